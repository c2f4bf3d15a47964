/**
 * The report as one self-contained HTML page (inline CSS and SVG, no script, nothing fetched): the
 * flash and memory maps drawn as bars, each device's provisioning path, its boot checks as an
 * image × check grid, its measured-boot table, and the STM32 firewall maps. @module
 */
import type { BuildReport, DeviceReport, FirewallReport, MemoryMap, ReportData } from './gather.ts';

/** Text safe in HTML content and attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const COLORS: Readonly<Record<string, string>> = {
  fip: '#4e79a7',
  'fwu-metadata': '#f28e2b',
  partition: '#76b7b2',
  image: '#59a14f',
  'fip-entry': '#edc948',
  rom: '#b07aa1',
  'secure-rw': '#e15759',
  'non-secure': '#59a14f',
  mixed: '#f28e2b',
  S_RW: '#e15759',
  NS_R_S_W: '#f28e2b',
  MCU_ISOLATION: '#b07aa1',
  NS_RW: '#59a14f',
  SECURE: '#e15759',
  NON_SECURE: '#59a14f',
  HDP: '#9c755f',
  HDP_CLOSED: '#3b2a20',
};
const color = (kind: string, i: number): string => COLORS[kind] ?? ['#4e79a7', '#76b7b2', '#edc948', '#ff9da7'][i % 4] ?? '#888';

const hex = (n: number): string => `0x${n.toString(16)}`;
const size = (n: number): string =>
  n >= 1 << 30 && n % (1 << 30) === 0
    ? `${n / (1 << 30)} GiB`
    : n >= 1 << 20
      ? `${(n / (1 << 20)).toFixed(n % (1 << 20) === 0 ? 0 : 2)} MiB`
      : n >= 1024
        ? `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} KiB`
        : `${n} B`;

/** A memory drawn as a bar: each region a block at its place, its name and extent on hover and below. */
function mapSvg(m: MemoryMap): string {
  const W = 960;
  const H = 34;
  const x = (o: number): number => Math.min(W, (o / m.size) * W);
  const blocks = m.regions.map((r, i) => {
    const w = Math.max(2, x(r.offset + r.size) - x(r.offset));
    const label =
      w > 60
        ? `<text x="${(x(r.offset) + w / 2).toFixed(1)}" y="22" text-anchor="middle" class="lbl">${esc(r.name.slice(0, Math.floor(w / 7)))}</text>`
        : '';
    return `<g><title>${esc(`${r.name}: ${hex(r.offset)}..${hex(r.offset + r.size)} (${size(r.size)})`)}</title><rect x="${x(r.offset).toFixed(1)}" y="2" width="${w.toFixed(1)}" height="${H - 4}" fill="${color(r.kind, i)}" stroke="#fff"/>${label}</g>`;
  });
  const legend = m.regions
    .map(
      (r, i) =>
        `<li><span class="sw" style="background:${color(r.kind, i)}"></span>${esc(r.name)} <code>${hex(r.offset)}</code> ${size(r.size)}</li>`,
    )
    .join('');
  return `<figure class="map"><figcaption>${esc(m.title)}: ${size(m.size)}</figcaption><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(m.title)}"><rect x="0" y="2" width="${W}" height="${H - 4}" fill="#eee"/>${blocks.join('')}</svg><ul class="legend">${legend}</ul></figure>`;
}

function buildSection(b: BuildReport): string {
  const rows = b.images
    .map(
      (i) =>
        `<tr><td>${esc(i.name)}</td><td>${esc(i.version)}</td><td>${size(i.size)}</td><td><code>${esc(i.imageHash)}</code></td><td><code>${esc(i.signerId)}</code></td></tr>`,
    )
    .join('');
  return `<article class="build"><h3>${esc(b.path)} <small>${esc(b.platform)}</small></h3>${b.maps.map(mapSvg).join('')}<table><thead><tr><th>image</th><th>version</th><th>size</th><th>image hash</th><th>signer id</th></tr></thead><tbody>${rows}</tbody></table></article>`;
}

const PATH = ['Virgin', 'TP mode', 'CM', 'DM', 'SE'] as const;

/** Virgin → TCI/PCI → CM → DM → SE, the states the device went through filled in. */
function provisioningSvg(d: DeviceReport): string {
  const reached =
    d.lcs === 'SE' ? 4 : d.lcs === 'DM' ? 3 : d.lcs === 'CM' ? (d.tpMode === 'TCI' || d.tpMode === 'PCI' ? 2 : 0) : d.lcs === 'RMA' ? 4 : 0;
  const nodes = PATH.map((name, i) => {
    const label = name === 'TP mode' ? (d.tpMode === 'TCI' || d.tpMode === 'PCI' ? d.tpMode : 'TCI/PCI') : name;
    const done = i <= reached;
    const cx = 70 + i * 170;
    const arrow =
      i === 0 ? '' : `<line x1="${cx - 118}" y1="30" x2="${cx - 54}" y2="30" class="arrow${done ? ' done' : ''}" marker-end="url(#head)"/>`;
    return `${arrow}<g class="state${done ? ' done' : ''}${i === reached ? ' here' : ''}"><rect x="${cx - 50}" y="10" width="100" height="40" rx="8"/><text x="${cx}" y="35" text-anchor="middle">${esc(label)}</text></g>`;
  });
  return `<svg viewBox="0 0 850 60" width="100%" role="img" aria-label="provisioning path of ${esc(d.path)}"><defs><marker id="head" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>${nodes.join('')}</svg>`;
}

/** The boot checks as a grid: one row per image (or FIP bank), one column per check. */
function checksGrid(d: DeviceReport): string {
  const subjects = [...new Set(d.boot.checks.map((c) => c.subject))];
  const checks = [...new Set(d.boot.checks.map((c) => c.check))];
  const cell = (s: string, k: string): string => {
    const c = d.boot.checks.filter((x) => x.subject === s && x.check === k);
    if (c.length === 0) return '<td class="na"></td>';
    const ok = c.every((x) => x.ok);
    return `<td class="${ok ? 'pass' : 'fail'}" title="${esc(c.map((x) => x.detail).join('; '))}">${ok ? '✓' : '✗'}</td>`;
  };
  const head = checks.map((k) => `<th class="rot"><div>${esc(k)}</div></th>`).join('');
  const rows = subjects.map((s) => `<tr><th>${esc(s)}</th>${checks.map((k) => cell(s, k)).join('')}</tr>`).join('');
  return `<table class="grid"><thead><tr><th></th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

function measurementsTable(d: DeviceReport): string {
  if (d.boot.measurements.length === 0) return '<p>No measurement recorded (the boot did not reach BL2).</p>';
  const rows = d.boot.measurements
    .map(
      (m) =>
        `<tr><td>${m.slot}</td><td>${esc(m.swType || '-')}</td><td>${esc(m.version)}</td><td><code>${esc(m.signerId)}</code></td><td><code>${esc(m.measurement)}</code></td><td>${m.locked ? 'locked' : ''}</td></tr>`,
    )
    .join('');
  return `<table><thead><tr><th>slot</th><th>type</th><th>version</th><th>signer id</th><th>measurement</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
}

function deviceBlock(d: DeviceReport, part: 'path' | 'checks' | 'measurements'): string {
  const title = `<h3>${esc(d.path)} <small>${esc(d.profile)}, LCS ${esc(d.lcs)}, TP mode ${esc(d.tpMode)}</small></h3>`;
  if (part === 'path') return `<article>${title}${provisioningSvg(d)}<p>${esc(d.lastBoot)}</p></article>`;
  if (part === 'measurements') return `<article>${title}${measurementsTable(d)}</article>`;
  const verdict = d.boot.ok ? '<p class="pass">boots to the runtime</p>' : `<p class="fail">stops: ${esc(d.boot.halt ?? '')}</p>`;
  return `<article>${title}${verdict}${checksGrid(d)}</article>`;
}

function firewallBlock(f: FirewallReport): string {
  const cells = f.cells
    .map(
      (c) =>
        `<span class="cell" style="background:${color(c.mode, 0)}" title="${esc(`${c.name}: ${c.mode} (${c.detail})`)}">${f.labelled ? esc(c.name) : ''}</span>`,
    )
    .join('');
  const modes = [...new Set(f.cells.map((c) => c.mode))]
    .map(
      (m) => `<li><span class="sw" style="background:${color(m, 0)}"></span>${esc(m)} (${f.cells.filter((c) => c.mode === m).length})</li>`,
    )
    .join('');
  return `<article><h3>${esc(f.path)} <small>${esc(f.kind)}</small></h3><p>${esc(f.caption)}</p><div class="cells ${f.labelled ? 'named' : 'pages'}">${cells}</div><ul class="legend">${modes}</ul>${f.maps.map(mapSvg).join('')}</article>`;
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}h2{border-bottom:2px solid #ccc;margin-top:2em}h3 small{color:#666;font-weight:normal}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}code{font-size:11px;word-break:break-all}
.grid td{text-align:center;width:1.6em}.grid td.pass{background:#d9f2d9}.grid td.fail{background:#f8d0d0}.grid td.na{background:#f6f6f6}
th.rot{height:150px;white-space:nowrap;vertical-align:bottom}th.rot div{transform:rotate(-60deg);width:1.6em;transform-origin:left bottom;margin-left:1em}
p.pass{color:#2a7a2a}p.fail{color:#b22}.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}.lbl{font-size:11px;fill:#fff}
.state rect{fill:#eee;stroke:#999}.state.done rect{fill:#cfe8cf;stroke:#4a4}.state.here rect{stroke-width:3}.arrow{stroke:#bbb;stroke-width:2}.arrow.done{stroke:#555}
.cells{display:flex;flex-wrap:wrap;gap:2px}.cells span{display:inline-block;color:#fff;font-size:10px}.named span{padding:2px 4px}.pages span{width:7px;height:14px}
figure.map{margin:.5em 0}figcaption{font-weight:bold}`;

/** The report page. */
export function renderReport(r: ReportData): string {
  const section = (id: string, title: string, body: string, none: string): string =>
    `<section id="${id}"><h2>${esc(title)}</h2>${body === '' ? `<p>${esc(none)}</p>` : body}</section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rsekit report: ${esc(r.dir)}</title><style>${CSS}</style></head>
<body><h1>rsekit report</h1><p>${esc(r.dir)}, ${esc(r.generated)}: ${r.builds.length} flash build(s), ${r.devices.length} RSE device(s), ${r.firewalls.length} STM32 device(s). Devices were booted in memory for this report; their directories are unchanged.</p>
<nav><a href="#flash-map">flash and memory maps</a> · <a href="#provisioning">provisioning</a> · <a href="#boot-checks">boot checks</a> · <a href="#measured-boot">measured boot</a> · <a href="#firewalls">firewalls</a></nav>
${section('flash-map', 'Flash and memory maps', r.builds.map(buildSection).join(''), 'No flash build (manifest.json) found.')}
${section('provisioning', 'Provisioning state path', r.devices.map((d) => deviceBlock(d, 'path')).join(''), 'No RSE device found.')}
${section('boot-checks', 'Boot checks: image × check', r.devices.map((d) => deviceBlock(d, 'checks')).join(''), 'No RSE device found.')}
${section('measured-boot', 'Measured boot', r.devices.map((d) => deviceBlock(d, 'measurements')).join(''), 'No RSE device found.')}
${section('firewalls', 'STM32 firewall maps', r.firewalls.map(firewallBlock).join(''), 'No STM32 device found.')}
</body></html>
`;
}
