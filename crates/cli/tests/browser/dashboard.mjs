// The dashboard in real Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// the charts and the map render with no console error, a click on a province on the map
// reaches its page, the household list behind the drill-down shows masked ID numbers, and the
// exit-progress page draws its map.
// Screenshots go to SCREENSHOTS.
//
//   node dashboard.mjs BASE_URL USERNAME PASSWORD SCREENSHOTS
// Exit status 0 when every check passed; each failure is printed.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, username, password, shots] = process.argv.slice(2);
if (!base || !username || !password || !shots) {
  console.error('usage: node dashboard.mjs BASE_URL USERNAME PASSWORD SCREENSHOTS');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'bangfu-chromium-'));
const failures = [];
const check = (ok, what) => { if (!ok) { failures.push(what); console.error('FAIL: ' + what); } else { console.log('ok: ' + what); } };

const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1920, height: 1080 },
  deviceScaleFactor: 1,
  locale: 'zh-CN',
});
const errors = [];
function watch(page) {
  page.on('console', (m) => { if (m.type() === 'error') { errors.push(m.text() + ' (' + (m.location().url || page.url()) + ')'); } });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (r) => errors.push('request failed: ' + r.url()));
  return page;
}

try {
  const page = watch(await browser.newPage());

  // The whole: cards, 广深高速, charts and the China map.
  await page.goto(base + '/dashboard', { waitUntil: 'load' });
  await page.waitForSelector('#dashboard[data-charts]', { timeout: 20000 });
  await page.waitForSelector('#chart-map[data-ready="true"]', { timeout: 20000 });
  await page.waitForTimeout(800); // ECharts' entry animation
  const charts = Number(await page.getAttribute('#dashboard', 'data-charts'));
  check(charts >= 6, `the dashboard drew its charts (${charts})`);
  for (const id of ['chart-map', 'chart-funds', 'chart-themes', 'chart-speed', 'chart-height', 'chart-pairings']) {
    const canvases = await page.locator(`#${id} canvas`).count();
    check(canvases > 0, `#${id} has a canvas`);
  }
  check(await page.locator('#demo-badge').innerText() === '演示数据', 'the page says 演示数据');
  const fiscal = await page.locator('#card-fiscal .value').innerText();
  check(/\d/.test(fiscal), `the fiscal funds card shows a number (${fiscal.trim()})`);
  await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
  await page.screenshot({ path: join(shots, 'dashboard-wall.png') });

  // A click on 广西 (at its capital's coordinates) reaches the province page.
  await page.locator('#chart-map').scrollIntoViewIfNeeded();
  const point = await page.evaluate(() => {
    const el = document.getElementById('chart-map');
    const chart = echarts.getInstanceByDom(el);
    const [x, y] = chart.convertToPixel({ seriesIndex: 0 }, [108.32, 22.82]);
    const box = el.getBoundingClientRect();
    return { x: box.left + x, y: box.top + y };
  });
  await page.mouse.move(point.x, point.y);
  await Promise.all([page.waitForURL('**/dashboard/45**', { timeout: 15000 }), page.mouse.click(point.x, point.y)]);
  check(new URL(page.url()).pathname === '/dashboard/45', `a click on the map reached ${page.url()}`);
  await page.waitForSelector('#dashboard[data-charts]', { timeout: 20000 });
  await page.waitForSelector('#chart-map[data-ready="true"]', { timeout: 20000 });
  await page.waitForTimeout(800);
  check((await page.locator('h1').innerText()).includes('广西壮族自治区'), 'the province page is 广西');
  check(await page.locator('#children-table tbody tr').count() > 0, 'the province page lists its counties');
  await page.screenshot({ path: join(shots, 'province.png'), fullPage: true });

  // Down the table: county → town → village.
  await page.locator('#children-table a').first().click();
  await page.waitForSelector('#dashboard[data-charts]', { timeout: 20000 });
  await page.waitForTimeout(600);
  await page.screenshot({ path: join(shots, 'county.png'), fullPage: true });
  await page.locator('#children-table tr.paired a, #children-table a').first().click();
  await page.waitForSelector('#dashboard[data-charts]', { timeout: 20000 });
  const listLink = page.locator('a.button', { hasText: '建档立卡户名单' });
  check(await listLink.count() > 0, 'a town page links to its household list');
  const listHref = await listLink.first().getAttribute('href');

  // The household list, logged in: ID numbers masked.
  await page.goto(base + '/login', { waitUntil: 'load' });
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.locator('form button[type="submit"]').first().click()]);
  await page.goto(base + listHref, { waitUntil: 'load' });
  const rows = await page.locator('table.households tbody tr').count();
  check(rows > 0, `the household list of ${listHref} has households (${rows})`);
  await page.screenshot({ path: join(shots, 'households.png'), fullPage: true });
  // The list names households; their file (一户一档) shows each member's ID number, masked.
  await Promise.all([page.waitForNavigation(), page.locator('table.households tbody a').first().click()]);
  const text = await page.locator('main').innerText();
  const masked = text.match(/\d{4}\*{6,}\d{3}[\dX]/g) || [];
  check(masked.length > 0, `the household file shows masked ID numbers (${masked.slice(0, 2).join(', ')})`);
  // Every cell of every 证件号码 column is masked (户编号 may be 18 digits long too).
  const idCells = await page.evaluate(() => {
    const out = [];
    for (const table of document.querySelectorAll('table')) {
      const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
      const col = heads.indexOf('证件号码');
      if (col < 0) { continue; }
      for (const tr of table.querySelectorAll('tbody tr')) {
        const td = tr.children[col];
        if (td) { out.push(td.textContent.trim()); }
      }
    }
    return out;
  });
  check(idCells.length > 0 && idCells.every((t) => /^\d{4}\*+[\dX]{4}$/.test(t)),
    `every ID number on the household file is masked (${idCells.length} cells)`);
  await page.screenshot({ path: join(shots, 'household.png'), fullPage: true });

  // Exit progress by county: the map coloured by incidence (China by province, then one province
  // by prefecture), from the same ECharts and map files as the dashboard.
  for (const [path, shot] of [['/assessment/progress?year=2019', 'exit-progress.png'], ['/assessment/progress?year=2019&region=45', 'exit-progress-45.png']]) {
    await page.goto(base + path, { waitUntil: 'load' });
    await page.waitForSelector('#exit-map-chart[data-ready="true"]', { timeout: 20000 });
    await page.waitForTimeout(600);
    const shown = Number(await page.getAttribute('#exit-map-chart', 'data-areas-shown'));
    check(shown > 0, `the exit-progress map of ${path} colours its areas (${shown})`);
    check(await page.locator('#exit-map-chart canvas').count() > 0, `the exit-progress map of ${path} has a canvas`);
    await page.screenshot({ path: join(shots, shot), fullPage: true });
  }

  check(errors.length === 0, 'no console errors' + (errors.length ? ': ' + errors.join(' | ') : ''));
} catch (e) {
  failures.push(String(e && e.stack ? e.stack : e));
  console.error(e);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
if (failures.length) {
  console.error(`${failures.length} browser check(s) failed`);
  process.exit(1);
}
console.log('browser checks passed; screenshots in ' + shots);
