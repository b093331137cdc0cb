"""Preventing a return to poverty through illness (防止因病返贫): the out-of-pocket watch, relief
cases and the relief fund (issue 7 item 8; R-PV-1 … R-PV-4)."""
