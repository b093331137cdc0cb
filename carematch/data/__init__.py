"""Reference data shipped with CareMatch: service catalogue, policies, immunization schedule."""
