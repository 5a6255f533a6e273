-- 9000_toys: the toy projector's table (tests/toy/test_toy.sh), registered
-- as every projector's tables are.
CREATE TABLE toys (
    event_id     uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    kind         text NOT NULL,
    created_at   timestamptz NOT NULL
);
SELECT sentinel_register_projector('toys', ARRAY['toys']);
