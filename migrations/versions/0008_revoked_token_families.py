"""Revoked token families: a sign-in (every access and refresh token carrying
the same `fam` claim, through every refresh-token rotation) refused as a
whole, after logout or when a used refresh token is presented again.

Reviewed by hand: a new table only, so nothing to backfill; the CHECK
constraint and the expiry index (housekeeping deletes by it) are as in the
model. Batch mode is used for the index as in the other migrations so the
file runs unchanged on SQLite and PostgreSQL.

Revision ID: b87a213edb7d
Revises: c77daa981e93
Create Date: 2026-12-02 00:07:39.673222

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b87a213edb7d'
down_revision = 'c77daa981e93'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('revoked_token_families',
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=10), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("reason IN ('logout','reuse')", name=op.f('ck_revoked_token_families_reason_known')),
    sa.PrimaryKeyConstraint('family_id', name=op.f('pk_revoked_token_families'))
    )
    with op.batch_alter_table('revoked_token_families', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revoked_token_families_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('revoked_token_families', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revoked_token_families_expires_at'))

    op.drop_table('revoked_token_families')
