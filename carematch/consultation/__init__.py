"""Remote consultation (远程会诊): a clinic asks a county specialist about a patient (R-SV-5)."""
