/* 管理看板 (/admin/): signs in with a staff account, keeps the tokens in memory
   only, and draws every part from the documented API (/api/v1/...), so each
   figure is scoped exactly as the API scopes it. Nothing is requested before
   sign-in. Charts: Apache ECharts (vendored, see app/static/vendor). */
(function () {
  'use strict';

  const API = document.body.dataset.api;
  const $ = (id) => document.getElementById(id);
  const PROGRAMS = [['hypertension', '高血压'], ['diabetes', '2 型糖尿病'], ['mental_disorder', '严重精神障碍']];
  const PROGRAM_LABEL = Object.fromEntries(PROGRAMS);
  // Dark, light and middle tones alternate, and lines differ in dash and symbol, so series
  // stay apart in greyscale; bars get decal patterns (ECharts aria).
  const PALETTE = ['#0b4f8a', '#e69f00', '#5b2a86', '#56b4e9', '#1b1f24', '#cc79a7'];
  const LINE_TYPES = ['solid', 'dashed', 'dotted'];
  const SYMBOLS = ['circle', 'rect', 'triangle'];
  const TEAM_ROLES = {doctor: '医生', nurse: '护士', public_health: '公卫医生', village_doctor: '乡村医生'};
  const COUNTERS = [
    ['signed_new', '新签约'], ['signed_renewed', '续约'], ['signed_total', '签约合计'],
    ['face_to_face_followups', '面对面随访'], ['phone_followups', '电话随访'], ['not_reached_visits', '未访到'],
    ['services_delivered', '履约服务'], ['appointments_attended', '预约到诊'],
  ];

  const state = {
    access: null, refresh: null, user: null, units: null, today: null,
    charts: {}, workload: {sort: 'name', order: 'asc'}, worklistPage: 1, worklistTotal: 0,
    seq: 0, firstReady: false,
  };

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `请求失败（HTTP ${status}）`);
      this.status = status;
      this.code = (body && body.code) || 'HTTP_' + status;
      this.errors = body && body.errors;
    }
  }

  // --- API ------------------------------------------------------------------

  function url(path, params) {
    const u = new URL(API + path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
    }
    return u;
  }

  let refreshing = null;
  function refreshTokens() {
    if (!refreshing) {
      refreshing = (async () => {
        const res = await fetch(url('/auth/refresh'), {
          method: 'POST', headers: {Authorization: 'Bearer ' + state.refresh}, credentials: 'omit', cache: 'no-store'});
        if (!res.ok) return false;
        const body = await res.json();
        state.access = body.access_token;
        state.refresh = body.refresh_token;
        return true;
      })().finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  async function request(method, path, {params, body, raw} = {}) {
    const send = () => fetch(url(path, params), {
      method,
      headers: Object.assign({}, state.access ? {Authorization: 'Bearer ' + state.access} : {},
                             body ? {'Content-Type': 'application/json'} : {}),
      body: body ? JSON.stringify(body) : undefined,
      credentials: 'omit', cache: 'no-store',
    });
    let res = await send();
    if (res.status === 401 && state.refresh && !path.startsWith('/auth/')) {
      if (await refreshTokens()) res = await send();
    }
    if (!res.ok) {
      let payload = null;
      try { payload = await res.json(); } catch (e) { payload = null; }
      const err = new ApiError(res.status, payload);
      if (res.status === 401 && state.access && !path.startsWith('/auth/')) signedOut('登录已失效，请重新登录');
      throw err;
    }
    if (raw) return res;
    return res.status === 204 ? null : res.json();
  }
  const get = (path, params) => request('GET', path, {params});

  // --- formatting -------------------------------------------------------------

  const nf = new Intl.NumberFormat('zh-CN');
  const pct = (r) => (r === null || r === undefined) ? '—' : (r * 100).toFixed(1) + '%';
  const iso = (d) => d.toISOString().slice(0, 10);
  const parse = (s) => new Date(s + 'T00:00:00Z');
  const addDays = (d, n) => new Date(d.getTime() + n * 86400000);
  const lastOfMonth = (y, m) => new Date(Date.UTC(y, m + 1, 0));
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === 'class') node.className = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function status(text) { $('status').textContent = text; }

  // --- periods ----------------------------------------------------------------

  function preset(name) {
    const t = parse(state.today);
    const y = t.getUTCFullYear(), m = t.getUTCMonth();
    switch (name) {
      case 'last30': return [addDays(t, -29), t];
      case 'last90': return [addDays(t, -89), t];
      case 'this-month': return [new Date(Date.UTC(y, m, 1)), t];
      case 'last-month': return [new Date(Date.UTC(y, m - 1, 1)), lastOfMonth(y, m - 1)];
      case 'last-year': return [new Date(Date.UTC(y - 1, 0, 1)), new Date(Date.UTC(y - 1, 11, 31))];
      default: return [new Date(Date.UTC(y, 0, 1)), t];
    }
  }

  function shiftMonths(d, k, toMonthEnd) {
    const y = d.getUTCFullYear(), m = d.getUTCMonth() - k;
    const last = lastOfMonth(y, m);
    if (toMonthEnd) return last;
    return new Date(Date.UTC(y, m, Math.min(d.getUTCDate(), last.getUTCDate())));
  }

  /* The period compared against: a period starting on the 1st of a month is moved back by the
     months it spans (本年至今 → the same dates last year, 本月 → the same days of last month);
     any other period by its own length (the days right before it). */
  function previousPeriod(from, to) {
    const f = parse(from), t = parse(to);
    if (f.getUTCDate() === 1) {
      const span = (t.getUTCFullYear() - f.getUTCFullYear()) * 12 + t.getUTCMonth() - f.getUTCMonth() + 1;
      const isEnd = addDays(t, 1).getUTCDate() === 1;
      return [iso(shiftMonths(f, span, false)), iso(shiftMonths(t, span, isEnd))];
    }
    const days = Math.round((t - f) / 86400000) + 1;
    return [iso(addDays(f, -days)), iso(addDays(f, -1))];
  }

  // --- sign-in ----------------------------------------------------------------

  async function login(ev) {
    ev.preventDefault();
    const username = $('username').value.trim(), password = $('password').value;
    $('login-error').textContent = '';
    if (!username || !password) {
      $('login-error').textContent = '请输入用户名和密码';
      return;
    }
    $('login-submit').disabled = true;
    performance.mark('login-submit');
    try {
      const body = await request('POST', '/auth/staff/login', {body: {username, password}});
      state.access = body.access_token;
      state.refresh = body.refresh_token;
      state.user = body.user;
      $('password').value = '';
      await start();
    } catch (err) {
      $('login-error').textContent = err.message;
    } finally {
      $('login-submit').disabled = false;
    }
  }

  async function logout() {
    try {
      if (state.access) await request('POST', '/auth/logout', {body: state.refresh ? {refresh_token: state.refresh} : {}});
    } catch (e) { /* signed out either way */ }
    signedOut('已退出登录');
  }

  function signedOut(message) {
    state.access = state.refresh = state.user = null;
    state.seq += 1;
    $('dashboard').hidden = true;
    $('who').hidden = true;
    $('login-section').hidden = false;
    $('login-error').textContent = message || '';
    delete document.body.dataset.state;
    $('username').focus();
  }

  // --- pickers ----------------------------------------------------------------

  function fillSelect(select, options, value) {
    select.replaceChildren(...options.map(([v, label]) => el('option', {value: v}, label)));
    if (value !== undefined && options.some(([v]) => String(v) === String(value))) select.value = String(value);
  }

  function teamsUnder(institutionId) {
    const teams = state.units.teams;
    if (!institutionId) return teams;
    const ids = new Set([Number(institutionId)]);
    for (const inst of state.units.institutions) {  // parents come before their children
      if (inst.parent_id !== null && ids.has(inst.parent_id)) ids.add(inst.id);
    }
    return teams.filter((t) => ids.has(t.institution_id));
  }

  function fillTeamPickers() {
    const teams = teamsUnder($('institution').value);
    const doctor = state.units.default_kind === 'team';
    const teamOptions = teams.map((t) => [t.id, t.name]);
    fillSelect($('team'), doctor ? teamOptions : [['', '全部团队'], ...teamOptions], $('team').value);
    const chosen = $('team').value || (teams[0] && teams[0].id) || '';
    fillSelect($('worklist-team'), teamOptions, chosen);
  }

  function unitParams() {
    const p = {};
    if ($('team').value) p.team_id = $('team').value;
    else if ($('institution').value) p.institution_id = $('institution').value;
    return p;
  }
  function periodParams() { return {date_from: $('date-from').value, date_to: $('date-to').value}; }

  async function start() {
    const units = await get('/stats/units');
    state.units = units;
    state.today = units.today;
    $('user-name').textContent = `${state.user.name}（${state.user.role === 'admin' ? '管理员' : '团队成员'}）`;
    const doctor = units.default_kind === 'team';
    $('institution-field').hidden = doctor;
    const rootLabel = units.default_kind === 'community' ? '全部机构（医共体）' : '本机构及下级机构';
    fillSelect($('institution'), [['', rootLabel],
      ...units.institutions.map((i) => [i.id, '\u3000'.repeat(i.depth) + i.name])]);
    if (units.default_kind === 'institution') $('institution').options[0].remove();
    fillTeamPickers();
    $('period-preset').value = 'ytd';
    applyPreset();
    $('login-section').hidden = true;
    $('who').hidden = false;
    $('dashboard').hidden = false;
    await loadAll();
  }

  function applyPreset() {
    const name = $('period-preset').value;
    if (name === 'custom') return;
    const [f, t] = preset(name);
    $('date-from').value = iso(f);
    $('date-to').value = iso(t);
  }

  // --- loading ----------------------------------------------------------------

  async function loadAll() {
    const seq = ++state.seq;
    const {date_from, date_to} = periodParams();
    if (!date_from || !date_to || date_from > date_to) {
      status('请选择有效的统计期（开始日期不晚于结束日期）');
      return;
    }
    document.body.dataset.state = 'loading';
    status('正在加载…');
    state.worklistPage = 1;
    try {
      await Promise.all([loadCards(seq), loadTrends(seq), loadOverdue(seq), loadReminders(seq), loadWorkload(seq),
                         loadWorklist(seq)]);
      if (seq !== state.seq) return;
      status(`已更新：${date_from} 至 ${date_to}`);
      document.body.dataset.state = 'ready';
      document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
      if (!state.firstReady) {
        state.firstReady = true;
        performance.mark('dashboard-ready');
      }
    } catch (err) {
      if (seq !== state.seq) return;
      document.body.dataset.state = 'error';
      status('加载失败：' + err.message);
    }
  }

  function render(id, option) {
    let chart = state.charts[id];
    if (!chart) {
      chart = echarts.init($(id), null, {renderer: 'canvas'});
      state.charts[id] = chart;
    }
    return new Promise((resolve) => {
      chart.off('finished');
      chart.on('finished', () => { $(id).dataset.rendered = String(Number($(id).dataset.rendered || 0) + 1); resolve(); });
      chart.setOption(Object.assign({
        color: PALETTE, animation: false, textStyle: {fontFamily: 'inherit'},
        aria: {enabled: true, decal: {show: true}},
      }, option), true);
    });
  }

  // Cards: the headline figures, each against the previous period.
  const CARDS = [
    ['coverage', '签约率', (o) => o.coverage],
    ['renewal', '续约率', (o) => o.renewal],
    ['fulfilment', '履约率', (o) => o.fulfilment],
    ...PROGRAMS.map(([p, label]) => [`standard_management.${p}`, `${label}规范管理率`,
      (o) => (o.programs.find((x) => x.program === p) || {}).standard_management]),
    ...PROGRAMS.map(([p, label]) => [`control.${p}`, `${label}控制率`,
      (o) => (o.programs.find((x) => x.program === p) || {}).control]),
    ['reminder_delivery', '提醒送达率', (o) => o.reminder_delivery],
    ['satisfaction', '满意度（平均分）', (o) => o.satisfaction],
  ];

  async function loadCards(seq) {
    const {date_from, date_to} = periodParams();
    const [prevFrom, prevTo] = previousPeriod(date_from, date_to);
    const [cur, prev] = await Promise.all([
      get('/stats/overview', Object.assign({date_from, date_to}, unitParams())),
      get('/stats/overview', Object.assign({date_from: prevFrom, date_to: prevTo}, unitParams())),
    ]);
    if (seq !== state.seq) return;
    $('unit-label').textContent = `· ${cur.unit.name}`;
    $('period-label').textContent = `统计期 ${cur.date_from} 至 ${cur.date_to}（签约率按 ${cur.coverage_on} 统计）；` +
      `对比上期 ${prev.date_from} 至 ${prev.date_to}`;
    const cards = CARDS.map(([key, label, pick]) => {
      const f = pick(cur) || {numerator: 0, denominator: 0, rate: null};
      const p = pick(prev) || {rate: null};
      const satisfaction = key === 'satisfaction';
      const shown = satisfaction ? (f.rate === null ? '—' : f.rate.toFixed(2) + ' 分') : pct(f.rate);
      const fraction = satisfaction ? `${nf.format(f.denominator)} 条评价`
        : `${nf.format(f.numerator)} / ${nf.format(f.denominator)}`;
      let delta = '上期无数据', cls = 'delta';
      if (f.rate !== null && p.rate !== null) {
        const d = satisfaction ? f.rate - p.rate : (f.rate - p.rate) * 100;
        const unit = satisfaction ? ' 分' : ' 个百分点';
        if (Math.abs(d) < 0.05) delta = '较上期持平';
        else {
          delta = `较上期 ${d > 0 ? '▲ 上升' : '▼ 下降'} ${Math.abs(d).toFixed(satisfaction ? 2 : 1)}${unit}`;
          cls += d > 0 ? ' up' : ' down';
        }
      }
      return el('article', {class: 'card', dataset: {metric: key, numerator: f.numerator, denominator: f.denominator,
                                                     rate: f.rate === null ? '' : f.rate,
                                                     previousRate: p.rate === null ? '' : p.rate}},
        el('h3', {}, label), el('p', {class: 'rate'}, shown), el('p', {class: 'fraction'}, fraction),
        el('p', {class: cls, title: `上期：${satisfaction ? (p.rate ?? '—') : pct(p.rate)}`}, delta));
    });
    $('cards').replaceChildren(...cards);
    $('tag-table').tBodies[0].replaceChildren(...cur.coverage_by_tag.map((t) => el('tr', {dataset: {tag: t.tag}},
      el('th', {scope: 'row'}, t.label), el('td', {class: 'num'}, nf.format(t.numerator)),
      el('td', {class: 'num'}, nf.format(t.denominator)), el('td', {class: 'num'}, pct(t.rate)))));
  }

  function lineOption(months, series, description) {
    return {
      aria: {enabled: true, label: {description}},
      tooltip: {trigger: 'axis', valueFormatter: (v) => (v === null || v === undefined) ? '无数据' : pct(v)},
      legend: {top: 0},
      grid: {left: 52, right: 16, top: 40, bottom: 28},
      xAxis: {type: 'category', data: months},
      yAxis: {type: 'value', min: 0, max: 1, axisLabel: {formatter: (v) => Math.round(v * 100) + '%'}},
      series: series.map((s, i) => ({
        name: s.name, type: 'line', data: s.data, connectNulls: false,
        symbol: SYMBOLS[i % 3], symbolSize: 8, lineStyle: {type: LINE_TYPES[i % 3], width: 2},
      })),
    };
  }

  async function loadTrends(seq) {
    const metrics = ['coverage', ...PROGRAMS.map(([p]) => 'standard_management.' + p),
                     ...PROGRAMS.map(([p]) => 'control.' + p)];
    const data = await get('/stats/monthly', Object.assign({metric: metrics.join(','), months: 12}, unitParams()));
    if (seq !== state.seq) return;
    const months = data.months.map((m) => m.month);
    const rate = (m, key) => (m.figures[key] || {}).rate ?? null;
    const describe = (title, series) => `${title}，${months[0]} 至 ${months[months.length - 1]}。` + series.map(
      (s) => `${s.name}：本月 ${pct(s.data[s.data.length - 1])}`).join('；');
    const coverage = [{name: '签约率', data: data.months.map((m) => rate(m, 'coverage'))}];
    const standard = PROGRAMS.map(([p, label]) => ({name: label,
      data: data.months.map((m) => rate(m, 'standard_management.' + p))}));
    const control = PROGRAMS.map(([p, label]) => ({name: label, data: data.months.map((m) => rate(m, 'control.' + p))}));
    $('chart-coverage').setAttribute('aria-description', describe('签约率', coverage));
    await Promise.all([
      render('chart-coverage', lineOption(months, coverage, describe('签约率逐月', coverage))),
      render('chart-standard', lineOption(months, standard, describe('规范管理率逐月', standard))),
      render('chart-control', lineOption(months, control, describe('控制率逐月', control))),
    ]);
  }

  function barOption(categories, rows, description) {
    return {
      aria: {enabled: true, decal: {show: true}, label: {description}},
      tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
      legend: {top: 0},
      grid: {left: 8, right: 24, top: 40, bottom: 8, containLabel: true},
      xAxis: {type: 'value', minInterval: 1},
      yAxis: {type: 'category', data: categories, inverse: true},
      series: PROGRAMS.map(([p, label]) => ({name: label, type: 'bar', stack: 'overdue',
                                             data: rows.map((r) => r.by_program[p] || 0)})),
      graphic: rows.length ? [] : [{type: 'text', left: 'center', top: 'middle', style: {text: '暂无逾期患者', fontSize: 14}}],
    };
  }

  async function loadOverdue(seq) {
    const data = await get('/stats/overdue', unitParams());
    if (seq !== state.seq) return;
    $('overdue-total').textContent = `共 ${nf.format(data.total)} 人次`;
    const villages = data.by_village.slice(0, 15);
    const say = (rows, name) => rows.length ? rows.slice(0, 5).map((r) => `${name(r)} ${r.overdue} 人次`).join('，')
      : '暂无逾期患者';
    await Promise.all([
      render('chart-overdue-village', barOption(villages.map((v) => `${v.village}（${v.institution_name}）`), villages,
                                                '逾期未随访按村/社区：' + say(villages, (v) => v.village))),
      render('chart-overdue-team', barOption(data.by_team.map((t) => t.team_name), data.by_team,
                                             '逾期未随访按团队：' + say(data.by_team, (t) => t.team_name))),
    ]);
  }

  async function loadReminders(seq) {
    const data = await get('/stats/reminders', Object.assign(periodParams(), unitParams()));
    if (seq !== state.seq) return;
    $('reminder-summary').textContent = `已发送 ${nf.format(data.sent)} 条，已送达 ${nf.format(data.delivered)} 条` +
      `（送达率 ${pct(data.delivery_rate)}），失败 ${nf.format(data.failed)} 条。`;
    $('reminder-summary').dataset.sent = data.sent;
    $('reminder-summary').dataset.delivered = data.delivered;
    $('reminder-summary').dataset.failed = data.failed;
    $('failure-table').tBodies[0].replaceChildren(...(data.failed_by_reason.length ? data.failed_by_reason.map(
      (r) => el('tr', {}, el('td', {}, r.label), el('td', {}, r.error_code), el('td', {class: 'num'}, nf.format(r.count))))
      : [el('tr', {}, el('td', {colspan: 3}, '统计期内没有发送失败的提醒'))]));
    // By day for up to two months, by month beyond.
    const byMonth = (parse(data.date_to) - parse(data.date_from)) / 86400000 > 62;
    const buckets = new Map();
    for (const d of data.days) {
      const key = byMonth ? d.date.slice(0, 7) : d.date;
      const b = buckets.get(key) || {sent: 0, delivered: 0, failed: 0};
      b.sent += d.sent; b.delivered += d.delivered; b.failed += d.failed;
      buckets.set(key, b);
    }
    const keys = [...buckets.keys()];
    const series = [['sent', '已发送'], ['delivered', '已送达'], ['failed', '失败']].map(([k, name]) => ({
      name, type: 'bar', data: keys.map((key) => buckets.get(key)[k])}));
    await render('chart-reminders', {
      aria: {enabled: true, decal: {show: true},
             label: {description: $('reminder-summary').textContent}},
      tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
      legend: {top: 0},
      grid: {left: 48, right: 16, top: 40, bottom: 28},
      xAxis: {type: 'category', data: keys},
      yAxis: {type: 'value', minInterval: 1},
      series,
      graphic: keys.length ? [] : [{type: 'text', left: 'center', top: 'middle',
                                    style: {text: '统计期内没有发送提醒', fontSize: 14}}],
    });
  }

  function sortableHead(table, columns) {
    const {sort, order} = state.workload;
    const row = el('tr', {});
    for (const [key, label, numeric] of columns) {
      const th = el('th', {scope: 'col', class: numeric ? 'num' : null,
                           'aria-sort': key === sort ? (order === 'asc' ? 'ascending' : 'descending') : 'none'});
      const button = el('button', {type: 'button', dataset: {sort: key}}, label);
      button.addEventListener('click', () => {
        state.workload = {sort: key, order: key === sort && order === 'asc' ? 'desc' : 'asc'};
        state.focusSort = [table.id, key];  // the header is redrawn: keep the keyboard where it was
        loadWorkload(state.seq).catch((err) => status('加载失败：' + err.message));
      });
      th.append(button);
      row.append(th);
    }
    table.tHead.replaceChildren(row);
    if (state.focusSort && state.focusSort[0] === table.id) {
      table.tHead.querySelector(`button[data-sort="${state.focusSort[1]}"]`).focus();
      state.focusSort = null;
    }
  }

  function satisfactionCell(s) {
    return s.rate === null ? '—' : `${s.rate.toFixed(2)}（${s.denominator} 条）`;
  }

  async function loadWorkload(seq) {
    const data = await get('/stats/workload', Object.assign(periodParams(), unitParams(), state.workload));
    if (seq !== state.seq) return;
    const counters = COUNTERS.map(([k, label]) => [k, label, true]);
    sortableHead($('workload-teams'), [['name', '团队', false], ...counters, ['satisfaction', '满意度', true]]);
    sortableHead($('workload-staff'), [['name', '姓名', false], ...counters, ['satisfaction', '满意度', true]]);
    const numbers = (r) => COUNTERS.map(([k]) => el('td', {class: 'num'}, nf.format(r[k])));
    $('workload-teams').tBodies[0].replaceChildren(...data.teams.map((t) => el('tr', {dataset: {teamId: t.team_id}},
      el('th', {scope: 'row'}, `${t.team_name}`, el('br'), el('span', {class: 'sub'}, t.institution_name)),
      ...numbers(t), el('td', {class: 'num'}, satisfactionCell(t.satisfaction)))));
    $('workload-staff').tBodies[0].replaceChildren(...data.staff.map((s) => el('tr', {dataset: {staffId: s.staff_id}},
      el('th', {scope: 'row'}, s.name, el('br'),
         el('span', {class: 'sub'}, [s.team_name, s.team_role_label || TEAM_ROLES[s.team_role]].filter(Boolean).join(' · ')
            + (s.active ? '' : '（已停用）'))),
      ...numbers(s), el('td', {class: 'num'}, satisfactionCell(s.satisfaction)))));
  }

  function worklistParams() {
    return {team_id: $('worklist-team').value, status: $('worklist-status').value,
            program: $('worklist-program').value, within_days: $('worklist-within').value || 7,
            village: $('worklist-village').value.trim()};
  }

  const SECTION = {overdue: '逾期', due: '即将到期', urgent_referral: '紧急转诊'};

  async function loadWorklist(seq) {
    const tbody = $('worklist-table').tBodies[0];
    if (!$('worklist-team').value) {
      tbody.replaceChildren(el('tr', {}, el('td', {colspan: 10}, '本范围内没有家庭医生团队')));
      $('worklist-summary').textContent = '';
      return;
    }
    const data = await get('/worklist', Object.assign(worklistParams(), {page: state.worklistPage, page_size: 20}));
    if (seq !== state.seq) return;
    state.worklistTotal = data.total;
    const pages = Math.max(1, Math.ceil(data.total / data.page_size));
    $('worklist-summary').textContent = `${$('worklist-team').selectedOptions[0].textContent}：共 ${nf.format(data.total)} 人次`;
    $('worklist-summary').dataset.total = data.total;
    $('worklist-page').textContent = `第 ${data.page} / ${pages} 页`;
    $('worklist-prev').disabled = data.page <= 1;
    $('worklist-next').disabled = data.page >= pages;
    tbody.replaceChildren(...(data.items.length ? data.items.map((row) => el('tr', {class: row.section},
      el('td', {}, SECTION[row.section] || row.section), el('td', {}, row.resident.name),
      el('td', {}, row.resident.id_number || ''), el('td', {}, row.resident.sex === 'male' ? '男' : '女'),
      el('td', {class: 'num'}, row.resident.age ?? ''), el('td', {}, row.resident.village || ''),
      el('td', {}, PROGRAM_LABEL[row.program] || row.program), el('td', {}, row.next_due_date),
      el('td', {class: 'num'}, row.days_overdue), el('td', {}, row.last_visit_date || '—')))
      : [el('tr', {}, el('td', {colspan: 10}, '没有符合条件的患者'))]));
  }

  // --- exports ----------------------------------------------------------------

  const EXPORTS = {
    overview: () => ['/stats/overview.xlsx', Object.assign(periodParams(), unitParams())],
    workload: () => ['/stats/workload.xlsx', Object.assign(periodParams(), unitParams(), state.workload)],
    worklist: () => ['/worklist.xlsx', worklistParams()],
    contracts: () => ['/contracts.xlsx', $('team').value ? {team_id: $('team').value} : {}],
  };

  function filenameOf(res, fallback) {
    const header = res.headers.get('Content-Disposition') || '';
    const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
    if (star) return decodeURIComponent(star[1]);
    const plain = /filename="([^"]+)"/i.exec(header);
    return plain ? plain[1] : fallback;
  }

  async function download(kind, button) {
    const [path, params] = EXPORTS[kind]();
    button.disabled = true;
    $('export-status').textContent = `正在生成 ${button.textContent}…`;
    try {
      const res = await request('GET', path, {params, raw: true});
      const blob = await res.blob();
      const name = filenameOf(res, kind + '.xlsx');
      const link = el('a', {href: URL.createObjectURL(blob), download: name});
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      $('export-status').textContent = `已下载 ${name}`;
      $('export-status').dataset.downloaded = name;
    } catch (err) {
      $('export-status').textContent = '导出失败：' + err.message;
    } finally {
      button.disabled = false;
    }
  }

  // --- wiring -----------------------------------------------------------------

  function reload() { loadAll(); }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    $('period-preset').addEventListener('change', () => { applyPreset(); reload(); });
    for (const id of ['date-from', 'date-to']) {
      $(id).addEventListener('change', () => { $('period-preset').value = 'custom'; reload(); });
    }
    $('institution').addEventListener('change', () => { $('team').value = ''; fillTeamPickers(); reload(); });
    $('team').addEventListener('change', () => { fillTeamPickers(); reload(); });
    $('filter-form').addEventListener('submit', (ev) => { ev.preventDefault(); reload(); });
    $('worklist-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      state.worklistPage = 1;
      loadWorklist(state.seq).catch((err) => { $('worklist-summary').textContent = '加载失败：' + err.message; });
    });
    const page = (step) => {
      state.worklistPage += step;
      loadWorklist(state.seq).catch((err) => { $('worklist-summary').textContent = '加载失败：' + err.message; });
    };
    $('worklist-prev').addEventListener('click', () => page(-1));
    $('worklist-next').addEventListener('click', () => page(1));
    for (const button of document.querySelectorAll('[data-export]')) {
      button.addEventListener('click', () => download(button.dataset.export, button));
    }
    window.addEventListener('resize', () => Object.values(state.charts).forEach((c) => c.resize()));
    $('username').focus();
  });
}());
