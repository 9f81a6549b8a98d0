"""Family links: a resident acts for a linked member (家庭成员) once the member
consented (an SMS code to the member's phone, or staff confirming in person).

Generated, then reviewed: family_links with one live (pending or active) link
per pair as a partial unique index; appointments, contracts and evaluations
record the family member who acted (proxy_resident_id, null otherwise). No
backfill: nobody acted for anyone before this revision.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 06:58:34.364850

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('family_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('relation', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reminders_to_proxy', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('code_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('code_attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('code_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_via', sa.String(length=20), nullable=True),
    sa.Column('confirmed_by_staff_id', sa.Integer(), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("relation IN ('parent','child','spouse','other')", name=op.f('ck_family_links_relation_known')),
    sa.CheckConstraint("status IN ('pending','active','removed')", name=op.f('ck_family_links_status_known')),
    sa.CheckConstraint('resident_id <> member_id', name=op.f('ck_family_links_not_self')),
    sa.ForeignKeyConstraint(['confirmed_by_staff_id'], ['staff.id'], name=op.f('fk_family_links_confirmed_by_staff_id_staff')),
    sa.ForeignKeyConstraint(['member_id'], ['residents.id'], name=op.f('fk_family_links_member_id_residents')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_family_links_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_links'))
    )
    with op.batch_alter_table('family_links', schema=None) as batch_op:
        batch_op.create_index('ix_family_links_member', ['member_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_links_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index('uq_family_links_live_pair', ['resident_id', 'member_id'], unique=True, sqlite_where=sa.text("status IN ('pending','active')"), postgresql_where=sa.text("status IN ('pending','active')"))

    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proxy_resident_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_appointments_proxy_resident_id_residents'), 'residents', ['proxy_resident_id'], ['id'])

    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proxy_resident_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_contracts_proxy_resident_id_residents'), 'residents', ['proxy_resident_id'], ['id'])

    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proxy_resident_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_evaluations_proxy_resident_id_residents'), 'residents', ['proxy_resident_id'], ['id'])



def downgrade():
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_evaluations_proxy_resident_id_residents'), type_='foreignkey')
        batch_op.drop_column('proxy_resident_id')

    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contracts_proxy_resident_id_residents'), type_='foreignkey')
        batch_op.drop_column('proxy_resident_id')

    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_appointments_proxy_resident_id_residents'), type_='foreignkey')
        batch_op.drop_column('proxy_resident_id')

    with op.batch_alter_table('family_links', schema=None) as batch_op:
        batch_op.drop_index('uq_family_links_live_pair', sqlite_where=sa.text("status IN ('pending','active')"), postgresql_where=sa.text("status IN ('pending','active')"))
        batch_op.drop_index(batch_op.f('ix_family_links_resident_id'))
        batch_op.drop_index('ix_family_links_member')

    op.drop_table('family_links')
