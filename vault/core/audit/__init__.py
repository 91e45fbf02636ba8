"""The audit trail: what was done to whose data, in a log an auditor can verify."""
