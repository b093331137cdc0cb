"""The officials' cockpit (驾驶舱): residents, migrants and records by district on a map."""
