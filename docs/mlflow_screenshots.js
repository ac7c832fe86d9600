// The README's MLflow screenshots (docs/mlflow_runs.png, docs/mlflow_trial.png),
// taken in a real browser: Debian's chromium driven by playwright-core.
//   ktr search quickstart
//   mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5055 &
//   npm install playwright-core && node docs/mlflow_screenshots.js
// The parent run is expanded and four metric columns are added, as a user
// would with the "+" beside the parent run and the "Columns" menu.
const { chromium } = require('playwright-core');
(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const page = await browser.newPage({ viewport: { width: 1900, height: 700 } });
  const base = 'http://127.0.0.1:5055/#/experiments/1';
  await page.goto(base + '/runs?workflowType=machine_learning');
  await page.waitForTimeout(6000);
  // Close the assistant panel if open.
  const close = page.locator('[aria-label="Close"], button[aria-label*="lose"]');
  for (const b of await close.all()) { try { await b.click({ timeout: 1000 }); } catch (e) {} }
  // Expand the parent run to show its trial runs.
  const expander = page.locator('button[data-component-id*="runnamecellrenderer"]').first();
  try { await expander.click({ timeout: 3000 }); } catch (e) { console.log('no expander', e.message.slice(0, 80)); }
  await page.waitForTimeout(2000);
  try {
    await page.locator('button:has-text("Columns")').first().click({ timeout: 3000 });
    await page.waitForTimeout(1000);
    for (const name of ['best_val_accuracy', 'params', 'compression', 'latency_ms']) {
      try { await page.getByText(name, { exact: true }).first().click({ timeout: 2000 }); }
      catch (e) { console.log('no column', name); }
    }
    await page.keyboard.press('Escape');
  } catch (e) { console.log('no columns menu', e.message.slice(0, 80)); }
  await page.waitForTimeout(1500);
  await page.screenshot({ path: 'docs/mlflow_runs.png' });
  // A trial run's page: its params and metrics.
  const href = await page.locator('a:has-text(" mps ")').first().getAttribute('href');
  await page.goto('http://127.0.0.1:5055/' + href + '?workflowType=machine_learning');
  await page.waitForTimeout(5000);
  await page.screenshot({ path: 'docs/mlflow_trial.png' });
  await browser.close();
})();
