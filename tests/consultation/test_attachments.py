"""What an upload is, from its bytes: the accepted types, the refused ones whatever they are
called, and that no bytes at all make the sniffer fail in any other way."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.consultation import attachments
from carematch.consultation.attachments import UnsupportedFile, clean_name, sniff
from tests.consultation.conftest import ECG_CSV, PDF

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(20)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(30)
DICOM = bytes(128) + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00"
ECG_TEXT = "导联 II 采样 500Hz\n0.12\n0.15\n0.11\n".encode()


@pytest.mark.parametrize(
    ("data", "content_type", "kind"),
    [
        (PDF, "application/pdf", "report"),
        (PNG, "image/png", "image"),
        (JPEG, "image/jpeg", "image"),
        (DICOM, "application/dicom", "image"),
        (ECG_CSV, "text/csv", "ecg"),
        (b"\xef\xbb\xbf" + ECG_CSV, "text/csv", "ecg"),
        (ECG_TEXT, "text/plain", "ecg"),
    ],
)
def test_accepted_types_are_recognised_by_their_bytes(data, content_type, kind):
    assert sniff(data) == attachments.Sniffed(content_type, kind)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200),  # a Windows program, whatever its name
        b"PK\x03\x04" + bytes(40),  # a zip (or .docx)
        b"<html><script>alert(1)</script>\n1,2\n3,4\n",  # markup is not an ECG
        b"  <svg onload=alert(1)>\n1\n2\n",
        "这是一段说明文字\n没有任何数字\n".encode(),  # text, but not samples
        b"1,2\x00,3\n4,5,6\n",  # a NUL byte: binary, not text
        b"\xff\xfe1\x002\x00",  # UTF-16: not the UTF-8 export
        bytes(127) + b"DICM",  # DICM one byte early
    ],
)
def test_other_bytes_are_refused(data):
    with pytest.raises(UnsupportedFile):
        sniff(data)


@given(st.binary(max_size=400))
def test_any_bytes_are_either_an_accepted_type_or_refused(data):
    try:
        found = sniff(data)
    except UnsupportedFile:
        return
    assert found.content_type in attachments.CONTENT_TYPES
    assert found.kind == attachments.KINDS[found.content_type]


@given(st.text(max_size=300), st.sampled_from(attachments.CONTENT_TYPES))
def test_a_clean_name_has_no_path_and_the_real_extension(name, content_type):
    cleaned = clean_name(name, content_type)
    assert "/" not in cleaned and "\\" not in cleaned and '"' not in cleaned
    assert cleaned.isprintable()
    assert cleaned.endswith("." + attachments.EXTENSIONS[content_type])
    assert 0 < len(cleaned) <= attachments.MAX_NAME


def test_a_renamed_file_takes_the_extension_of_what_it_is():
    assert clean_name("C:\\scans\\林国栋 心电图.exe", "application/pdf") == "林国栋 心电图.pdf"
    assert clean_name("../../etc/passwd", "text/plain") == "passwd.txt"
    assert clean_name(None, "image/png") == "attachment.png"
