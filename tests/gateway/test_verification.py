"""The verifier: verdict logic (pure) and every verdict on real stamped files and a real ledger."""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from common.types import MediaType
from gateway.verification import (
    GreenListTextDetector,
    ProvenanceSignalReaders,
    Signals,
    Verdict,
    Verifier,
    custody_of,
    decide,
    explain,
    parse_watermark_id,
    watermark_id_text,
)
from ledger.interface import Entry
from provenance.interface import (
    C2paState,
    InvalidMediaError,
    MediaTooLargeError,
    UnsupportedMediaError,
)
from tests.gateway.test_verification_world import (
    World,
    crop_fraction,
    encode,
    flip_pixel_bytes,
    sample_photo,
    sign_with_foreign_chain,
    strip_metadata,
)


def signals(**changes: object) -> Signals:
    base: dict[str, object] = {
        "c2pa_state": C2paState.ABSENT,
        "c2pa_claims_ours": False,
        "record_proven": False,
        "label_found": False,
        "label_integrity_ok": None,
        "watermark_record_proven": False,
    }
    base.update(changes)
    return Signals(**base)  # type: ignore[arg-type]  # test table of known field names


# --- the decision, pure --------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, Verdict.UNKNOWN),
        (
            {"c2pa_state": C2paState.TRUSTED, "c2pa_claims_ours": True, "record_proven": True},
            Verdict.VERIFIED,
        ),
        ({"c2pa_state": C2paState.TRUSTED, "c2pa_claims_ours": True}, Verdict.TAMPERED),
        ({"c2pa_state": C2paState.TRUSTED}, Verdict.FOREIGN_PROVENANCE),
        ({"c2pa_state": C2paState.VALID, "c2pa_claims_ours": True}, Verdict.FOREIGN_PROVENANCE),
        ({"c2pa_state": C2paState.WELL_FORMED}, Verdict.FOREIGN_PROVENANCE),
        (
            {"c2pa_state": C2paState.INVALID, "watermark_record_proven": True},
            Verdict.TAMPERED,
        ),
        ({"watermark_record_proven": True}, Verdict.VERIFIED_VIA_WATERMARK),
        (
            {"label_found": True, "label_integrity_ok": False, "watermark_record_proven": True},
            Verdict.TAMPERED,
        ),
        ({"label_found": True}, Verdict.LABELED_ONLY),
        ({"label_found": True, "label_integrity_ok": True}, Verdict.LABELED_ONLY),
        ({"watermark_unmatched": True}, Verdict.UNKNOWN),
    ],
)
def test_decide_covers_every_verdict(changes: dict[str, object], expected: Verdict) -> None:
    verdict, reason = decide(signals(**changes))
    assert verdict is expected
    text = explain(reason, signals(**changes))
    assert text.zh
    assert text.en


def test_every_verdict_is_reachable_and_explained_in_both_languages() -> None:
    reached = set()
    for state in C2paState:
        for ours in (False, True):
            for proven in (False, True):
                for label in (None, False, True):
                    verdict, _reason = decide(
                        signals(
                            c2pa_state=state,
                            c2pa_claims_ours=ours,
                            record_proven=proven,
                            watermark_record_proven=proven,
                            label_found=label is not None,
                            label_integrity_ok=label,
                        )
                    )
                    reached.add(verdict)
    assert reached == set(Verdict)


def test_explanation_mentions_a_watermark_without_record() -> None:
    text = explain("no_signal", signals(watermark_unmatched=True))
    assert "watermark" in text.en
    assert "水印" in text.zh


def test_watermark_id_text_round_trips() -> None:
    assert watermark_id_text(0x1234_5678_9ABC) == "123456789abc"
    assert watermark_id_text(0xABC, 64) == "0000000000000abc"
    assert parse_watermark_id(watermark_id_text(2**48 - 1)) == 2**48 - 1
    assert parse_watermark_id("not hex") is None


def test_custody_marks_links_to_earlier_events() -> None:
    first = Entry(0, "aa" * 32, {"type": "generation", "actor": "key:1", "time": "t"})
    second = Entry(1, "bb" * 32, {"type": "stamp", "previous_leaf_hash": "aa" * 32})
    stray = Entry(2, "cc" * 32, {"type": "stamp", "previous_leaf_hash": "dd" * 32})
    events = custody_of([first, second, stray])
    assert [e.linked for e in events] == [True, True, False]
    assert events[0].to_dict()["actor"] == "key:1"


# --- real files, real ledger ---------------------------------------------------------


@pytest.fixture
def photo_png() -> bytes:
    return encode(sample_photo("astronaut", 512), "PNG")


@pytest.mark.db
def test_stamped_image_is_verified_with_proof_and_custody(world: World, photo_png: bytes) -> None:
    published = world.publish(photo_png, MediaType.PNG)
    report = world.verifier.verify_file(published.data, "image/png")
    body = report.to_dict()
    assert report.verdict is Verdict.VERIFIED, body["explanation"]
    assert report.generation_id == published.generation_id
    assert body["c2pa"]["state"] == "trusted"
    assert body["c2pa"]["recovered"] is False
    assert body["c2pa"]["manifest"]["assertions"]["org.aigc-gateway.ledger"]["artifact_id"] == (
        published.generation_id
    )
    assert body["ledger"]["found"] is True
    assert body["ledger"]["proof_ok"] is True
    assert body["ledger"]["matched_by"] == "content_hash"
    assert body["ledger"]["checkpoint"].startswith("aigc-gateway.local/ledger\n")
    assert [e["type"] for e in body["custody"]] == ["generation", "moderation", "stamp"]
    assert all(e["linked"] for e in body["custody"])
    assert body["implicit_label"]["found"] is True
    assert body["implicit_label"]["reserved_code_ok"] is True
    assert body["explicit_label"]["found"] is True
    assert body["watermark"]["watermark_id"] == watermark_id_text(published.watermark_id)
    assert "watermark" not in body["explanation"]["en"]  # the decoded id is the record's


@pytest.mark.db
@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda data: strip_metadata(data, "PNG"), id="stripped"),
        pytest.param(lambda data: strip_metadata(data, "JPEG", quality=75), id="jpeg75"),
        pytest.param(lambda data: crop_fraction(data, 0.10), id="crop10"),
    ],
)
def test_transformed_image_is_recovered_through_the_watermark(
    world: World, photo_png: bytes, transform: object
) -> None:
    published = world.publish(photo_png, MediaType.PNG)
    changed = transform(published.data)  # type: ignore[operator]  # a parametrized callable
    report = world.verifier.verify_file(changed, None)
    body = report.to_dict()
    assert report.verdict is Verdict.VERIFIED_VIA_WATERMARK, body["explanation"]
    assert report.generation_id == published.generation_id
    assert body["c2pa"] | {"manifest": None} == body["c2pa"] | {
        "present": False,
        "recovered": True,
        "binding": "soft",
        "state": "trusted",
        "manifest": None,
    }
    assert body["c2pa"]["manifest_label"] == published.result.manifest_label
    assert body["ledger"]["matched_by"] == "watermark"
    assert body["ledger"]["proof_ok"] is True
    assert len(body["custody"]) == 3


@pytest.mark.db
def test_flipped_pixels_in_a_signed_file_are_tampered(world: World, photo_png: bytes) -> None:
    published = world.publish(photo_png, MediaType.PNG)
    report = world.verifier.verify_file(flip_pixel_bytes(published.data), "image/png")
    assert report.verdict is Verdict.TAMPERED
    assert report.c2pa.state is C2paState.INVALID
    assert "assertion.dataHash.mismatch" in report.c2pa.validation_status
    # The watermark survives the edit: the response still names the record.
    assert report.generation_id == published.generation_id
    assert report.ledger.matched_by == "watermark"


@pytest.mark.db
def test_foreign_signer_is_foreign_provenance(
    world: World, photo_png: bytes, tmp_path: Path
) -> None:
    signed = sign_with_foreign_chain(photo_png, MediaType.PNG, tmp_path / "other-keys")
    report = world.verifier.verify_file(signed, "image/png")
    assert report.verdict is Verdict.FOREIGN_PROVENANCE
    assert report.c2pa.state is C2paState.VALID
    assert "signingCredential.untrusted" in report.c2pa.validation_status
    assert report.generation_id is None


@pytest.mark.db
def test_plain_photo_is_unknown(world: World) -> None:
    photo = encode(sample_photo("coffee", 400), "JPEG", quality=90)
    report = world.verifier.verify_file(photo, "image/jpeg")
    assert report.verdict is Verdict.UNKNOWN
    assert report.to_dict()["ledger"]["found"] is False
    assert report.custody == ()


@pytest.mark.db
def test_broken_ledger_record_makes_a_signed_file_tampered(world: World, photo_png: bytes) -> None:
    published = world.publish(photo_png, MediaType.PNG)
    with world.ledger._engine.begin() as conn:  # simulate an edited row in storage
        conn.execute(
            sa.text(
                "UPDATE ledger_leaves SET leaf = replace(leaf, 'released', 'blocked!') "
                "WHERE generation_id = :g AND event_type = 'stamp'"
            ),
            {"g": published.generation_id},
        )
    report = world.verifier.verify_file(published.data, "image/png")
    assert report.verdict is Verdict.TAMPERED
    assert report.reason == "ledger_mismatch"
    assert report.ledger.proof_ok is False


@pytest.mark.db
def test_text_exact_match_is_verified_edited_label_only_plain_unknown(world: World) -> None:
    published = world.publish("新品上市，限时优惠。".encode(), MediaType.TEXT)
    text = published.data.decode("utf-8")
    exact = world.verifier.verify_text(text)
    assert exact.verdict is Verdict.VERIFIED, exact.to_dict()["explanation"]
    assert exact.generation_id == published.generation_id
    assert exact.c2pa.state is C2paState.TRUSTED
    assert exact.implicit_label is not None
    assert exact.implicit_label.reserved_code_ok is True  # the label we issued beside it
    edited = world.verifier.verify_text(text.replace("限时", "今日"))
    assert edited.verdict is Verdict.LABELED_ONLY
    assert edited.explicit_label is not None
    assert edited.explicit_label.found
    assert world.verifier.verify_text("今天天气很好。").verdict is Verdict.UNKNOWN


@pytest.mark.db
def test_glb_with_sidecar_is_verified_and_edited_glb_is_tampered(world: World) -> None:
    import trimesh

    glb = trimesh.creation.box(extents=(1, 2, 3)).export(file_type="glb")
    published = world.publish(glb, MediaType.GLB)
    report = world.verifier.verify_file(published.data, "model/gltf-binary")
    assert report.verdict is Verdict.VERIFIED, report.to_dict()["explanation"]
    assert report.generation_id == published.generation_id
    edited = bytearray(published.data)
    edited[-5] ^= 0x01  # a vertex byte in the BIN chunk
    tampered = world.verifier.verify_file(bytes(edited), None)
    assert tampered.verdict is Verdict.TAMPERED
    assert tampered.reason == "label_mismatch"


@pytest.mark.db
def test_uploaded_sidecar_is_validated_against_the_file(world: World) -> None:
    import trimesh

    glb = trimesh.creation.box(extents=(2, 2, 2)).export(file_type="glb")
    published = world.publish(glb, MediaType.GLB)
    world.catalog.items.clear()  # the verifier must use the sidecar it was handed
    report = world.verifier.verify_file(
        published.data, None, sidecar=published.result.manifest_bytes
    )
    assert report.c2pa.present is True
    assert report.verdict is Verdict.VERIFIED


# --- hostile input -------------------------------------------------------------------


def _bomb_png() -> bytes:
    return encode(Image.new("1", (20_000, 20_000)), "PNG")


@pytest.mark.db
@pytest.mark.parametrize(
    ("make", "declared", "error"),
    [
        (lambda: b"", "image/png", InvalidMediaError),
        (lambda: bytes(range(256)) * 40, "image/png", UnsupportedMediaError),
        (
            lambda: encode(sample_photo("astronaut", 300), "JPEG")[:3000],
            "image/jpeg",
            InvalidMediaError,
        ),
        (_bomb_png, None, MediaTooLargeError),
    ],
    ids=["empty", "random-bytes-as-png", "truncated-jpeg", "decompression-bomb"],
)
def test_hostile_input_is_refused_with_a_reason(
    world: World, make: object, declared: str | None, error: type[Exception]
) -> None:
    data = make()  # type: ignore[operator]  # a parametrized factory
    with pytest.raises(error) as raised:
        world.verifier.verify_file(data, declared)
    assert 400 <= raised.value.http_status < 500  # type: ignore[attr-defined]


def test_image_bytes_of_another_type_are_refused() -> None:
    png = encode(sample_photo("astronaut", 64), "PNG")

    verifier = Verifier(ProvenanceSignalReaders(None, None), None, None)
    with pytest.raises(UnsupportedMediaError):
        verifier.verify_file(png, "image/jpeg")
    assert verifier.verify_file(png, "application/octet-stream").verdict is Verdict.UNKNOWN
    assert Image.open(io.BytesIO(png)).size == (64, 64)


@pytest.mark.db
def test_markdown_front_matter_label_is_checked(world: World) -> None:
    published = world.publish("# 新品\n\n限时优惠。\n".encode(), MediaType.MARKDOWN)
    text = published.data.decode("utf-8")
    assert text.startswith("---")
    exact = world.verifier.verify_text(text)
    assert exact.verdict is Verdict.VERIFIED, exact.to_dict()["explanation"]
    assert exact.implicit_label is not None
    assert exact.implicit_label.fields["ProduceID"] == published.generation_id
    edited = world.verifier.verify_text(text.replace("限时", "今日"))
    assert edited.verdict is Verdict.TAMPERED
    assert edited.reason == "label_mismatch"


@dataclasses.dataclass(frozen=True)
class Score:
    z_score: float
    p_value: float
    num_tokens: int
    green_fraction: float
    detected: bool


class FixedTextDetector:
    """A ``TextWatermarkDetector`` fake answering a fixed z-score."""

    def __init__(self, z_score: float) -> None:
        self.z_score = z_score

    def detect(self, text: str) -> Score | None:
        p_value = 0.5 * math.erfc(self.z_score / math.sqrt(2))
        return Score(self.z_score, p_value, 120, 0.6, self.z_score >= 4.0)


def test_text_watermark_is_reported_and_explained() -> None:
    verifier = Verifier(ProvenanceSignalReaders(None, None, FixedTextDetector(6.5)), None, None)
    report = verifier.verify_text("这是一段没有标识的文字，但带有统计水印。")
    body = report.to_dict()
    assert body["watermark"]["method"] == "text_green_list"
    assert body["watermark"]["present"] is True
    assert body["watermark"]["z_score"] == 6.5
    assert report.verdict is Verdict.UNKNOWN
    assert "statistical watermark" in report.explanation.en
    quiet = Verifier(ProvenanceSignalReaders(None, None, FixedTextDetector(0.4)), None, None)
    assert quiet.verify_text("普通文字。").to_dict()["watermark"]["present"] is False


@pytest.mark.db
def test_remote_manifest_references_are_never_fetched(world: World) -> None:
    import http.server
    import threading

    from provenance.xmp import embed_xmp

    fetched: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/manifest.c2pa"
        packet = (
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            f'rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" dcterms:provenance="{url}"/>'
            "</rdf:RDF></x:xmpmeta>"
        ).encode()
        photo = encode(sample_photo("coffee", 300), "JPEG")
        report = world.verifier.verify_file(embed_xmp(photo, MediaType.JPEG, packet), None)
    finally:
        server.shutdown()
        server.server_close()
    assert fetched == []
    assert report.verdict is Verdict.UNKNOWN
    assert report.c2pa.validation_status == ("manifest.inaccessible",)


@pytest.mark.db
def test_erased_content_still_recovers_the_signed_manifest(world: World, photo_png: bytes) -> None:
    published = world.publish(photo_png, MediaType.PNG)
    stored = world.catalog.items[-1]
    world.catalog.items[-1] = dataclasses.replace(stored, original=None)  # PIPL erasure
    report = world.verifier.verify_file(strip_metadata(published.data), None)
    assert report.verdict is Verdict.VERIFIED_VIA_WATERMARK
    assert report.c2pa.recovered is True
    assert report.c2pa.manifest_label == published.result.manifest_label
    assert report.c2pa.state is C2paState.TRUSTED


def test_green_list_detector_is_quiet_without_a_model(tmp_path: Path) -> None:
    detector = GreenListTextDetector(tmp_path / "no-model", key=7)
    assert detector.detect("足够长的一段文字，用来检查没有模型目录时的行为。" * 2) is None
    broken = tmp_path / "broken-model"
    broken.mkdir()  # a directory without config.json or tokenizer files
    assert detector.detect("short") is None
    assert (
        GreenListTextDetector(broken, key=7).detect("一段足够长的文字，但模型目录是坏的。" * 2)
        is None
    )
