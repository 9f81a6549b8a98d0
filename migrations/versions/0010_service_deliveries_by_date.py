"""County picture: service deliveries indexed by date.

Generated, then reviewed: 履约率 of a period counts what was delivered up to
its end as the entitlements' used counters less the deliveries dated after it
(services.stats.figures.fulfilment); this index finds those few rows instead
of scanning every delivery.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 06:25:54.170794

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_service_deliveries_delivered_on', ['delivered_on'], unique=False)


def downgrade():
    with op.batch_alter_table('service_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_service_deliveries_delivered_on')
