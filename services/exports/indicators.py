"""The county's picture as spreadsheets: the overview (one row per figure:
numerator, denominator, rate) and the workload (a sheet of teams and one of
staff), holding exactly what the JSON endpoints answer for the same query."""
from __future__ import annotations

from typing import IO

from services.exports.xlsx import Column, Sheet, write_workbook
from services.stats.figures import overview_rows
from services.stats.workloads import workload_rows

UNIT_KINDS = {"team": "团队", "institution": "机构", "community": "医共体"}


def _notes(data: dict) -> tuple[str, ...]:
    unit = data["unit"]
    return (f"统计单位：{UNIT_KINDS[unit['kind']]} {unit['name']}",
            f"统计期：{data['date_from'].isoformat()} 至 {data['date_to'].isoformat()}")


def overview_workbook(data: dict) -> IO[bytes]:
    columns = (Column("指标", 30), Column("分子", 12, "int"), Column("分母", 12, "int"), Column("比率", 12, "rate"),
               Column("平均分", 10, "decimal"))
    rows = [(name, n, d, None, rate) if name.startswith("满意度") else (name, n, d, rate, None)
            for name, n, d, rate in overview_rows(data)]
    return write_workbook([Sheet(
        "指标总览", columns, rows, heading="家庭医生签约服务指标总览",
        notes=(*_notes(data), f"签约率统计日：{data['coverage_on'].isoformat()}",
               "比率为分子 ÷ 分母；满意度为评价分数之和 ÷ 评价条数（平均分）；分母为 0 时为空"))])


_COUNTERS = (Column("新签约", 10, "int"), Column("续约", 10, "int"), Column("签约合计", 10, "int"),
             Column("面对面随访", 12, "int"), Column("电话随访", 10, "int"), Column("未访到", 10, "int"),
             Column("履约服务", 10, "int"), Column("预约到诊", 10, "int"), Column("满意度平均分", 12, "decimal"),
             Column("评价条数", 10, "int"))


def workload_workbook(data: dict) -> IO[bytes]:
    teams, staff = workload_rows(data)
    notes = (*_notes(data), f"排序：{data['sort']} {'降序' if data['order'] == 'desc' else '升序'}")
    return write_workbook([
        Sheet("团队", (Column("团队", 24), Column("机构", 20), *_COUNTERS), teams, heading="绩效工作量（团队）",
              notes=notes),
        Sheet("人员", (Column("姓名", 12), Column("岗位", 10), Column("团队", 24), *_COUNTERS), staff,
              heading="绩效工作量（人员）", notes=notes),
    ])
