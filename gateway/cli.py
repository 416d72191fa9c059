"""The ``aigc-gateway`` command line.

    aigc-gateway models init                     # build the small offline models
    aigc-gateway serve --host 127.0.0.1 --port 8000
    aigc-gateway keys create --tenant acme --role generate
    aigc-gateway generate "新品上市的宣传语"
    aigc-gateway worker --concurrency 8          # AIGC_EXECUTION=celery: run jobs
    aigc-gateway jobs list --status failed

Every command reads ``AIGC_DATA_DIR`` (default ``./data``) and the other ``AIGC_*``
settings. Results go to stdout; progress and log messages go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from common.errors import ConfigurationError, GatewayError
from common.types import ContentKind, TenantId
from gateway.auth import create_api_key, ensure_tenant, list_api_keys, revoke_api_key
from gateway.cli_jobs import jobs_app, worker_command
from gateway.cli_verify import verify_command
from gateway.db import session_scope
from gateway.invalidation import Topic
from gateway.models import Role
from gateway.runtime import ADMIN_TENANT, Runtime, build_runtime
from gateway.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    help="aigc-gateway: moderate, review, label, watermark, sign and ledger AI-generated content.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
models_app = typer.Typer(help="Build or inspect the local models.", no_args_is_help=True)
ledger_app = typer.Typer(help="Audit the Merkle ledger and prove entries.", no_args_is_help=True)
certs_app = typer.Typer(help="The C2PA signing certificate chain.", no_args_is_help=True)
review_app = typer.Typer(help="The human review queue.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(ledger_app, name="ledger")
app.add_typer(certs_app, name="certs")
app.add_typer(review_app, name="review")
app.command("verify")(verify_command)
app.command("worker")(worker_command)
app.add_typer(jobs_app, name="jobs")


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the bad variable
        _err(f"invalid settings: {exc}")
        raise typer.Exit(2) from exc


def _runtime() -> Runtime:
    """The runtime of a one-shot command: no scanner warm-up, no anchoring thread."""
    settings = _settings()
    try:
        runtime = build_runtime(settings)
    except ConfigurationError as exc:
        _cannot_start(exc)
    runtime.start(serving=False)
    return runtime


def _cannot_start(exc: ConfigurationError) -> NoReturn:
    # A bad setting or an unusable store (a missing bucket, say) is the operator's to fix:
    # say what it is, without a traceback.
    _err(f"cannot start: {exc.message}")
    raise typer.Exit(2) from exc


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Start the HTTP API (migrations run and the first admin key is issued at start-up)."""
    import uvicorn

    from gateway.app import create_app
    from gateway.server import uvicorn_options

    settings = _settings()
    _configure_logging(settings.log_level)
    try:
        application = create_app(settings)
    except ConfigurationError as exc:
        _cannot_start(exc)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        **uvicorn_options(settings.server),
    )


@models_app.command("init")
def models_init() -> None:
    """Build the small offline models into <AIGC_DATA_DIR>/models (idempotent)."""
    from generators.tiny import build_default_models

    settings = _settings()
    _configure_logging(settings.log_level)
    built = build_default_models(settings.models_dir_resolved)
    for name, path in built.items():
        typer.echo(f"{name}\t{path}")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant id; created with the default policy if new.")],
    role: Annotated[Role, typer.Option(help="Role of the key.")],
    label: Annotated[str, typer.Option(help="A note to recognise the key by.")] = "",
) -> None:
    """Create an API key and print it (the last stdout line holds only the key)."""
    runtime = _runtime()
    with session_scope(runtime.engine) as session:
        ensure_tenant(session, tenant, runtime.settings.default_policy)
        issued = create_api_key(session, tenant, role, label)
    _err(f"created key {issued.key_id} for tenant '{tenant}' with role '{role.value}'")
    _err("store it now: it cannot be shown again")
    typer.echo(issued.plain_key)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
) -> None:
    """List keys (ids, tenants, roles; never the keys themselves)."""
    runtime = _runtime()
    with session_scope(runtime.engine) as session:
        rows = list_api_keys(session, tenant)
    for row in rows:
        state = f"revoked {row.revoked_at.isoformat()}" if row.revoked_at else "active"
        typer.echo(f"{row.id}\t{row.tenant_id}\t{row.role}\t{state}\t{row.label}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id from `keys list`.")],
) -> None:
    """Revoke a key: serving processes sharing AIGC_REDIS_URL drop it at once, the others
    within auth_cache_s."""
    runtime = _runtime()
    try:
        with session_scope(runtime.engine) as session:
            revoke_api_key(session, key_id)
        runtime.invalidations.publish(Topic.API_KEY, key_id)  # once committed
    except GatewayError as exc:
        _err(exc.message)
        raise typer.Exit(1) from exc
    finally:
        runtime.close()
    _err(f"revoked key {key_id}")


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="The prompt.")],
    kind: Annotated[ContentKind, typer.Option(help="What to generate.")] = ContentKind.TEXT,
    tenant: Annotated[str, typer.Option(help="Tenant to run as.")] = ADMIN_TENANT,
    params: Annotated[
        str, typer.Option(help='Generator parameters as JSON, e.g. {"seed": 1}.')
    ] = "{}",
) -> None:
    """Run the whole pipeline locally once and print the result as JSON."""
    from gateway.pipeline import GenerationOrder
    from gateway.routes.generations import public_view
    from gateway.tenant_policy import tenant_policy

    runtime = _runtime()
    try:
        parsed: dict[str, Any] = json.loads(params)
        with session_scope(runtime.engine) as session:
            ensure_tenant(session, tenant, runtime.settings.default_policy)
        order = GenerationOrder(
            tenant_id=TenantId(tenant),
            kind=kind,
            prompt=prompt,
            actor="cli",
            params=parsed,
            policy=tenant_policy(runtime.engine, tenant, runtime.settings.default_policy),
        )
        generation = runtime.pipeline.generate(order)
    except json.JSONDecodeError as exc:
        _err(f"--params is not JSON: {exc}")
        raise typer.Exit(2) from exc
    except GatewayError as exc:
        _err(f"{exc.code}: {exc.message}")
        raise typer.Exit(1) from exc
    typer.echo(
        json.dumps(
            public_view(runtime, generation).model_dump(mode="json"), ensure_ascii=False, indent=2
        )
    )


@ledger_app.command("audit")
def ledger_audit() -> None:
    """Recompute the tree from storage and check every stored checkpoint.

    Exits 1 and names the first modified, deleted, inserted or reordered index on tampering.
    """
    from ledger.audit import audit

    runtime = _runtime()
    key = runtime.ledger_service.public_key_info()
    report = audit(runtime.engine, key.vkey, origin=key.origin)
    if report.ok:
        typer.echo(
            f"ok: {report.leaves_checked} leaves, {report.checkpoints_checked} checkpoints, "
            f"tree size {report.tree_size}"
        )
        return
    typer.echo(
        f"TAMPERED at index {report.first_bad_index}: "
        f"{report.problem.value if report.problem else 'unknown'} — {report.detail}"
    )
    raise typer.Exit(1)


@ledger_app.command("prove")
def ledger_prove(index: Annotated[int, typer.Argument(help="Leaf index.", min=0)]) -> None:
    """Print a self-contained proof bundle (entry, inclusion proof, signed checkpoint, anchor)."""
    runtime = _runtime()
    try:
        bundle = runtime.ledger_service.prove(index)
    except GatewayError as exc:
        _err(f"{exc.code}: {exc.message}")
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(bundle, ensure_ascii=False, indent=2))


# Exit code of `ledger verify-bundle` when the bundle checks out against its own key but
# no key was pinned: distinct from 1 (failed) and 2 (unreadable) so scripts cannot mistake
# "self-consistent" for "proven to come from our ledger".
EXIT_KEY_NOT_PINNED = 3


@ledger_app.command("verify-bundle")
def ledger_verify_bundle(
    bundle_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Bundle JSON.")],
    vkey: Annotated[
        str | None, typer.Option(help="Pin the checkpoint key (vkey, from GET /v1/ledger/key).")
    ] = None,
    trust_bundle_key: Annotated[
        bool, typer.Option(help="Accept the bundle's own key when no --vkey is pinned.")
    ] = False,
) -> None:
    """Verify a proof bundle offline: leaf hash, inclusion proof, checkpoint signature.

    Exits 0 when it verifies against a pinned --vkey (or the bundle's own key with
    --trust-bundle-key), 1 when it fails, 2 when the file is not JSON, and 3 when it is
    only self-consistent because no key was pinned.
    """
    from ledger.verify import verify_bundle

    try:
        bundle = json.loads(bundle_file.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _err(f"not a JSON bundle: {exc}")
        raise typer.Exit(2) from exc
    result = verify_bundle(bundle, trusted_vkey=vkey)
    if not result.ok:
        typer.echo("FAILED: " + result.reason)
        raise typer.Exit(1)
    _report_trust(result.reason, pinned=vkey is not None, trust_bundle_key=trust_bundle_key)


def _report_trust(reason: str, *, pinned: bool, trust_bundle_key: bool) -> None:
    """Say how far a verified bundle is trusted; exit 3 unless a key was pinned or accepted.

    A bundle carries its own public key, so checking it against that key only shows it
    is self-consistent: anyone can forge a bundle signed by a key of their own.
    """
    if pinned:
        typer.echo("ok: " + reason)
        return
    if trust_bundle_key:
        typer.echo("ok (bundle's own key trusted, not pinned): " + reason)
        return
    typer.echo("self-consistent, key not pinned: " + reason)
    _err(
        "pin the ledger's key with --vkey (the vkey from GET /v1/ledger/key), "
        "or pass --trust-bundle-key to accept the bundle's own key"
    )
    raise typer.Exit(EXIT_KEY_NOT_PINNED)


@certs_app.command("show")
def certs_show() -> None:
    """Show the signing chain (created on first use)."""
    from provenance.keys import show_certificates

    for info in show_certificates(_settings().provenance_resolved):
        typer.echo(json.dumps(info.as_dict(), ensure_ascii=False))


@certs_app.command("rotate")
def certs_rotate() -> None:
    """Issue a new signing key and certificate; the root stays, old manifests stay trusted."""
    from provenance.keys import rotate_signing_certificate

    try:
        info = rotate_signing_certificate(_settings().provenance_resolved)
    except GatewayError as exc:
        _err(exc.message)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(info.as_dict(), ensure_ascii=False))


@review_app.command("stats")
def review_stats(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
) -> None:
    """Throughput, agreement between double reviewers, and decisions per reviewer."""
    from review_ui.report import format_stats

    runtime = _runtime()
    typer.echo(format_stats(runtime.review_service.stats(tenant_id=tenant)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
