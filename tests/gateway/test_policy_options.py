"""Per-policy stamping profiles, prompt redaction, and policy files checked at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.auth import ensure_tenant
from gateway.db import session_scope
from gateway.models import Role
from gateway.pipeline import GenerationOrder
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from moderation.interface import PolicyError
from tests.support.gateway import fake_catalog

pytestmark = pytest.mark.db

NO_ANCHOR = {"anchor": {"enabled": False}}


def started(runtime: Runtime) -> Runtime:
    runtime.start()
    with session_scope(runtime.engine) as session:
        ensure_tenant(session, "acme", "cn-marketing")
    return runtime


def order(prompt: str, policy: str = "cn-marketing") -> GenerationOrder:
    from common.types import ContentKind

    return GenerationOrder(
        tenant_id="acme", kind=ContentKind.TEXT, prompt=prompt, policy=policy, actor="test"
    )


def test_stamp_profile_of_the_policy_is_applied(database_url: str, data_dir: Path) -> None:
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        ledger=NO_ANCHOR,
        stamp_profiles={
            "cn-marketing": {"text_label_position": "start", "disabled_steps": ["c2pa"]}
        },
    )
    runtime = started(build_runtime(settings, catalog=fake_catalog()))
    generation = runtime.pipeline.generate(order("春季新品"))
    text = runtime.store.read(generation.artifact_path or "").decode()
    assert text.startswith("【AI生成】")
    assert generation.manifest_label is None  # C2PA turned off for this policy
    other = runtime.pipeline.generate(order("春季新品", policy="eu-general"))
    assert other.manifest_label is not None  # other policies keep the default chain
    runtime.close()


def test_prompts_are_redacted_before_the_generator(database_url: str, data_dir: Path) -> None:
    settings = Settings(
        data_dir=data_dir, database_url=database_url, ledger=NO_ANCHOR, redact_prompts=True
    )
    runtime = started(build_runtime(settings, catalog=fake_catalog()))
    generation = runtime.pipeline.generate(order("写给 alice@example.com 的文案", "eu-general"))
    assert "alice@example.com" not in (generation.prompt or "")
    if generation.raw_path:
        assert "alice@example.com" not in runtime.store.read(generation.raw_path).decode()
    runtime.close()


def test_malformed_policy_stops_the_start_naming_the_line(
    database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "broken.yaml").write_text("name: broken\nscanners:\n  input: [pii\n")
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        ledger=NO_ANCHOR,
        moderation={"policy_dir": str(policy_dir)},
    )
    runtime = build_runtime(settings, catalog=fake_catalog())
    with pytest.raises(PolicyError) as failure:
        runtime.start()
    assert "broken.yaml:4: malformed YAML" in str(failure.value)  # file and line
    runtime.close()


def test_roles_enum_is_stable() -> None:
    # The contract's four roles, in order; senior reviewers came after.
    assert [r.value for r in Role] == ["generate", "review", "audit", "admin", "senior"]
