"""Reference data shipped with CareMatch (service catalogue, policy library, immunization schedule)."""
