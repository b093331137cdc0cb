"""Assessments (评估与走访): Barthel ADL assessments, home visits and needs questionnaires."""
