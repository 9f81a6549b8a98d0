"""Offline sync: the per-team change feed (sync_feed) and residents.version.

Generated, then reviewed by hand: the receipts table autogenerate proposed
for an earlier draft is gone (pushed records use idempotency_records); the
version index is unique; PostgreSQL gets the sequence the feed's versions
come from; the feed is backfilled from the tables as they stand (what
services.sync.feed.rebuild does, frozen here as SQL), so phones of an
upgraded deployment get everything on their first pull.

Revision ID: 0009
Revises: b87a213edb7d
Create Date: 2026-12-02 10:16:37.668974

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = 'b87a213edb7d'
branch_labels = None
depends_on = None

LIVE_CONTRACT = "('pending','awaiting_payment','scheduled','active')"
BACKFILL = [
    "SELECT team_id, 'resident', resident_id, resident_id FROM ("
    f" SELECT team_id, resident_id FROM contracts WHERE status IN {LIVE_CONTRACT}"
    " UNION SELECT team_id, resident_id FROM program_enrolments WHERE status = 'active') AS panel",
    "SELECT team_id, 'enrolment', id, resident_id FROM program_enrolments WHERE status = 'active'",
    "SELECT team_id, 'contract', id, resident_id FROM contracts WHERE status = 'active'",
    "SELECT s.team_id, 'appointment', a.id, a.resident_id FROM appointments a JOIN slots s ON s.id = a.slot_id"
    " WHERE a.status <> 'cancelled'",
    "SELECT 0, 'round_point', id, CAST(NULL AS INTEGER) FROM round_points WHERE active",
]


def upgrade():
    op.create_table('sync_feed',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('xid', sa.BigInteger(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_feed')),
    sa.UniqueConstraint('team_id', 'kind', 'entity_id', name='uq_sync_feed_team_kind_entity')
    )
    with op.batch_alter_table('sync_feed', schema=None) as batch_op:
        batch_op.create_index('ix_sync_feed_kind_entity', ['kind', 'entity_id'], unique=False)
        batch_op.create_index('ix_sync_feed_team_position', ['team_id', 'xid', 'version'], unique=False)
        batch_op.create_index('ix_sync_feed_version', ['version'], unique=True)

    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False))

    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE SEQUENCE sync_feed_version_seq")
    for source in BACKFILL:
        if postgres:
            rows = (f"SELECT src.*, nextval('sync_feed_version_seq'), pg_current_xact_id()::text::bigint, false"
                    f" FROM ({source}) AS src")
        else:
            rows = (f"SELECT src.*, (SELECT COALESCE(MAX(version), 0) FROM sync_feed) + row_number() OVER (), 0, 0"
                    f" FROM ({source}) AS src")
        op.execute(f"INSERT INTO sync_feed (team_id, kind, entity_id, resident_id, version, xid, deleted) {rows}")


def downgrade():
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('version')

    with op.batch_alter_table('sync_feed', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_feed_version')
        batch_op.drop_index('ix_sync_feed_team_position')
        batch_op.drop_index('ix_sync_feed_kind_entity')

    op.drop_table('sync_feed')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE sync_feed_version_seq")
