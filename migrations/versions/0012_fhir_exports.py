"""FHIR Bulk Data exports: one row per kick-off (status, scope, types, _since,
progress, the files written, expiry), so an export outlives the web process.

Generated, then reviewed: nothing to backfill.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 07:38:53.324324

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('fhir_exports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('institution_ids', sa.JSON(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('types', sa.JSON(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('request_url', sa.String(length=1000), nullable=False),
    sa.Column('transaction_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('progress', sa.String(length=200), nullable=True),
    sa.Column('output', sa.JSON(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued','running','done','failed','cancelled','expired')", name=op.f('ck_fhir_exports_status_known')),
    sa.ForeignKeyConstraint(['community_id'], ['medical_communities.id'], name=op.f('fk_fhir_exports_community_id_medical_communities')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['staff.id'], name=op.f('fk_fhir_exports_requested_by_id_staff')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_fhir_exports_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_exports'))
    )
    with op.batch_alter_table('fhir_exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_exports_status'), ['status'], unique=False)



def downgrade():
    with op.batch_alter_table('fhir_exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fhir_exports_status'))

    op.drop_table('fhir_exports')
