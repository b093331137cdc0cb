"""The consultation API as served: multipart upload, encryption at rest, downloads checked and
audited, the two ends' moves, jurisdiction, and the referral that follows."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from carematch.consultation import storage
from carematch.consultation.models import ConsultationAttachment
from carematch.core.db import session_scope
from carematch.security.models import AuditEntry
from tests.consultation.conftest import CLINIC, ECG_CSV, HOSPITAL, OTHER_HOSPITAL, PDF, bearer

URL = "/api/v1/consultations"
PROBLEM = "application/problem+json"


def create(api, world, *, files=None, by="clinic_doc", **fields):
    data = {
        "person_id": world.ht,
        "from_provider_id": CLINIC,
        "specialty": "cardiology",
        "urgency": "urgent",
        "question": "胸闷两天，心电图ST段改变？",
        **fields,
    }
    return api.post(URL, data=data, files=files or [], headers=bearer(by))


def audit_actions(entity_id: str) -> list[str]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity_id == entity_id)
                .order_by(AuditEntry.seq)
            )
        )


def test_a_clinic_uploads_files_that_are_stored_encrypted_and_downloaded_intact(api, world):
    files = [
        ("files", ("林国栋-心电图.pdf", PDF, "application/pdf")),
        ("files", ("ecg.csv", ECG_CSV, "text/csv")),
    ]
    created = create(api, world, files=files)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["Location"] == f"{URL}/{body['id']}"
    assert body["to_provider_id"] == HOSPITAL  # the community's county hospital by default
    assert body["status"] == "requested" and body["clock"]["state"] == "running"
    assert body["my_ends"] == ["requesting"] and body["allowed"] == ["cancelled"]
    pdf, csv = body["attachments"]
    assert (pdf["content_type"], pdf["kind"], pdf["size_bytes"]) == (
        "application/pdf",
        "report",
        len(PDF),
    )
    assert csv["content_type"] == "text/csv" and csv["kind"] == "ecg"
    for attachment, plain in ((pdf, PDF), (csv, ECG_CSV)):
        on_disk = storage.path_of(attachment["id"]).read_bytes()
        assert plain not in on_disk and plain[:16] not in on_disk  # encrypted at rest
        assert oct(os.stat(storage.path_of(attachment["id"])).st_mode & 0o777) == "0o600"
        got = api.get(attachment["download"], headers=bearer("specialist"))
        assert got.status_code == 200
        assert got.content == plain
        assert got.headers["content-type"].startswith(attachment["content_type"])
        assert got.headers["content-disposition"].startswith("attachment;")
        assert "download_attachment" in audit_actions(attachment["id"])
    with session_scope() as session:  # the file name (it names the patient) is encrypted too
        raw = (
            session.connection()
            .exec_driver_sql("SELECT file_name FROM consultation_attachments")
            .scalars()
            .all()
        )
        assert not any("林国栋" in name for name in raw)


def test_a_tampered_file_is_never_served_and_the_failure_is_audited(api, world):
    body = create(api, world, files=[("files", ("a.pdf", PDF, "application/pdf"))]).json()
    attachment = body["attachments"][0]
    path = storage.path_of(attachment["id"])
    sealed = bytearray(path.read_bytes())
    sealed[20] ^= 0x01
    path.write_bytes(bytes(sealed))
    got = api.get(attachment["download"], headers=bearer("specialist"))
    assert got.status_code == 500
    assert got.headers["content-type"] == PROBLEM
    assert got.json()["type"] == "/problems/attachment-integrity"
    assert PDF not in got.content
    assert "attachment_integrity_failed" in audit_actions(attachment["id"])


def test_a_file_swapped_for_another_attachments_or_with_a_wrong_hash_is_caught(world):
    storage.write("a" * 32, PDF)
    storage.write("b" * 32, ECG_CSV)
    storage.path_of("a" * 32).write_bytes(storage.path_of("b" * 32).read_bytes())
    with pytest.raises(storage.AttachmentCorrupted):
        storage.read("a" * 32, storage.sha256_hex(ECG_CSV))
    with pytest.raises(storage.AttachmentCorrupted, match="hash"):
        storage.read("b" * 32, storage.sha256_hex(PDF))
    assert storage.read("b" * 32, storage.sha256_hex(ECG_CSV)) == ECG_CSV


def test_a_file_of_another_type_is_refused_with_a_clear_422_whatever_its_name(api, world):
    program = b"MZ\x90\x00" + bytes(300)
    refused = create(api, world, files=[("files", ("ecg.pdf", program, "application/pdf"))])
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    problem = refused.json()
    assert problem["type"] == "/problems/unsupported-attachment"
    assert "ecg.pdf" in problem["detail"] and "PDF" in problem["accepted"]
    with session_scope() as session:  # nothing was kept
        assert session.scalar(select(ConsultationAttachment.id)) is None
    assert api.get(URL, headers=bearer("clinic_doc")).json()["total"] == 0


def test_the_size_limit_comes_from_settings(api, world, monkeypatch):
    monkeypatch.setenv("CAREMATCH_CONSULTATION_MAX_ATTACHMENT_BYTES", str(len(PDF)))
    over = create(api, world, files=[("files", ("a.pdf", PDF + b" ", "application/pdf"))])
    assert over.status_code == 413
    assert over.json()["type"] == "/problems/attachment-too-large"
    assert over.json()["max_bytes"] == len(PDF)
    assert (
        create(api, world, files=[("files", ("a.pdf", PDF, "application/pdf"))]).status_code == 201
    )
    monkeypatch.setenv("CAREMATCH_CONSULTATION_MAX_ATTACHMENTS", "1")
    two = [("files", ("a.pdf", PDF, "application/pdf"))] * 2
    assert create(api, world, files=two).status_code == 413


def test_residents_and_staff_of_another_district_cannot_reach_it(api, world):
    cid = create(api, world, files=[("files", ("a.pdf", PDF, "application/pdf"))]).json()["id"]
    attachment = api.get(f"{URL}/{cid}", headers=bearer("specialist")).json()["attachments"][0]
    for path in (f"{URL}/{cid}", attachment["download"]):
        assert api.get(path, headers=bearer("resident_ht")).status_code == 403
        outsider = api.get(path, headers=bearer("doctor_d2"))
        assert outsider.status_code == 404 and outsider.headers["content-type"] == PROBLEM
    assert api.post(f"{URL}/{cid}/accept", headers=bearer("doctor_d2")).status_code == 404
    assert api.post(f"{URL}/{cid}/accept", headers=bearer("official_d1")).status_code == 403
    assert api.get(URL, headers=bearer("doctor_d2")).json()["total"] == 0
    assert api.get(URL, headers=bearer("doctor_d1")).json()["total"] == 1
    # The requesting doctor must see the person and the clinic: not another district's.
    assert create(api, world, by="doctor_d2").status_code == 404
    assert create(api, world, person_id=world.d2).status_code == 404
    assert api.get(f"{URL}/nope%00", headers=bearer("doctor_d1")).status_code == 404


def test_each_end_makes_only_its_own_moves_and_the_machine_answers_409(api, world):
    cid = create(api, world).json()["id"]
    move = lambda who, what, **body: api.post(  # noqa: E731
        f"{URL}/{cid}/{what}", json=body or None, headers=bearer(who)
    )
    assert move("clinic_doc", "accept").status_code == 403  # the clinic cannot take its own
    assert move("specialist", "cancel", reason="x").status_code == 403
    early = move("specialist", "answer", findings="窦性心律")
    assert early.status_code == 409
    assert early.json()["current"] == "requested"
    assert early.json()["allowed"] == ["accepted", "declined", "cancelled"]
    queue = api.get(URL, params={"end": "consulting"}, headers=bearer("specialist")).json()
    assert [c["id"] for c in queue["items"]] == [cid]
    assert queue["items"][0]["allowed"] == ["accepted", "declined"]
    assert move("specialist", "accept").json()["status"] == "accepted"
    assert move("specialist", "accept").status_code == 409
    answered = move("specialist", "answer", findings="下壁导联ST段压低", advice="转诊心内科")
    assert answered.status_code == 200
    body = answered.json()
    assert (body["status"], body["findings"], body["answered_by"]) == (
        "answered",
        "下壁导联ST段压低",
        "specialist",
    )
    assert body["turnaround_minutes"] is not None and body["turnaround_minutes"] >= 0
    assert body["clock"]["state"] == "met"
    assert move("specialist", "decline", reason="迟了").status_code == 409
    closed = move("clinic_doc", "close")
    assert closed.json()["status"] == "closed" and closed.json()["allowed"] == []
    assert (
        api.get(URL, params={"end": "requesting"}, headers=bearer("specialist")).json()["total"]
        == 0
    )


def test_a_decline_and_a_cancellation_need_a_reason_and_end_the_request(api, world):
    declined_id = create(api, world).json()["id"]
    no_reason = api.post(
        f"{URL}/{declined_id}/decline", json={"reason": ""}, headers=bearer("specialist")
    )
    assert no_reason.status_code == 422
    declined = api.post(
        f"{URL}/{declined_id}/decline", json={"reason": "需面诊"}, headers=bearer("specialist")
    ).json()
    assert (declined["status"], declined["end_reason"], declined["clock"]["state"]) == (
        "declined",
        "需面诊",
        "met",
    )
    cancelled_id = create(api, world).json()["id"]
    cancelled = api.post(
        f"{URL}/{cancelled_id}/cancel",
        json={"reason": "患者已去县医院"},
        headers=bearer("clinic_doc"),
    ).json()
    assert cancelled["status"] == "cancelled" and cancelled["clock"]["state"] == "void"


def test_a_referral_follows_the_answer_once(api, world):
    cid = create(api, world).json()["id"]
    refer = lambda: api.post(  # noqa: E731
        f"{URL}/{cid}/referral",
        json={"reason": "ST段压低，需冠脉造影"},
        headers=bearer("clinic_doc"),
    )
    assert refer().status_code == 409  # not answered yet
    api.post(f"{URL}/{cid}/accept", headers=bearer("specialist"))
    api.post(f"{URL}/{cid}/answer", json={"findings": "疑似心肌缺血"}, headers=bearer("specialist"))
    referred = refer()
    assert referred.status_code == 201, referred.text
    referral_id = referred.json()["referral_id"]
    assert referred.json()["consultation"]["referral_id"] == referral_id
    referral = api.get(f"/api/v1/referrals/{referral_id}", headers=bearer("doctor_d1")).json()
    assert (referral["from_provider_id"], referral["to_provider_id"]) == (CLINIC, HOSPITAL)
    assert (referral["direction"], referral["urgency"], referral["person_id"]) == (
        "up",
        "urgent",
        world.ht,
    )
    again = refer()
    assert again.status_code == 409 and again.json()["referral_id"] == referral_id


def test_a_request_goes_to_a_county_hospital_of_the_clinics_medical_community(api, world):
    elsewhere = create(api, world, by="doctor_d1", to_provider_id=OTHER_HOSPITAL)
    assert elsewhere.status_code == 400
    assert elsewhere.json()["type"] == "/problems/invalid-consultation"
    from_hospital = create(api, world, by="doctor_d1", from_provider_id=HOSPITAL)
    assert from_hospital.status_code == 400
    assert create(api, world, specialty="astrology").status_code == 400
    assert create(api, world, question="").status_code == 422
