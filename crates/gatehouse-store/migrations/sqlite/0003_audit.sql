-- Audit trail: who did what, when, from where, under which request id.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT,
    actor TEXT,
    ip TEXT,
    request_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_kind_idx ON audit_events (kind, at);
CREATE INDEX audit_events_subject_idx ON audit_events (subject, at);
