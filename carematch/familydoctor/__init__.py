"""Family-doctor signing (家庭医生签约), follow-up schedules and two-way referral (双向转诊)."""
