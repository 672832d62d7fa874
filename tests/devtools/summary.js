// What Chrome DevTools' Memory tab shows of a .heapsnapshot: the file is loaded into the
// DevTools frontend of a real headless Chromium (its Memory panel's "Load profile"
// path: ProfilesPanel.loadFromFile, then the panel's own worker builds the snapshot),
// and the Summary view's rows (per class: count, shallow and retained size, as
// aggregatesWithFilter gives them) and the Statistics view's totals are printed as JSON.
//   node summary.js CHROMIUM FILE.heapsnapshot
// Needs a node with a WebSocket client (22 or later).
'use strict';
const {spawn} = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [chromium, snapshot] = process.argv.slice(2);
const PIECE = 4 << 20;  // bytes of the file sent to the page at once

function startChromium(profile) {
  const child = spawn(chromium, [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'],
    // Its temporary files (the singleton socket) go in the profile too, removed with it.
    // detached: a process group of its own, ended as a whole (its helper processes too).
    {stdio: ['ignore', 'ignore', 'pipe'], env: {...process.env, TMPDIR: profile},
     detached: true});
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr.on('data', (chunk) => {
      text += chunk;
      const found = text.match(/DevTools listening on ws:\/\/[^:]+:(\d+)\//);
      if (found) resolve({child, port: found[1]});
    });
    child.on('exit', (code) => reject(new Error(`chromium exited (${code}): ${text.slice(-500)}`)));
  });
}

class Session {  // one DevTools protocol connection
  constructor(url) {
    this.socket = new WebSocket(url);
    this.next = 1;
    this.waiting = new Map();
    this.socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      const waiter = this.waiting.get(message.id);
      if (!waiter) return;
      this.waiting.delete(message.id);
      message.error ? waiter.reject(new Error(JSON.stringify(message.error)))
                    : waiter.resolve(message.result);
    };
    this.open = new Promise((resolve, reject) => {
      this.socket.onopen = resolve;
      this.socket.onerror = () => reject(new Error('cannot reach the DevTools page'));
    });
  }
  send(method, params = {}) {
    const id = this.next++;
    this.socket.send(JSON.stringify({id, method, params}));
    return new Promise((resolve, reject) => this.waiting.set(id, {resolve, reject}));
  }
  async evaluate(expression) {
    const result = await this.send('Runtime.evaluate',
                                   {expression, awaitPromise: true, returnByValue: true});
    if (result.exceptionDetails) {
      const details = result.exceptionDetails;
      throw new Error((details.exception && details.exception.description) || details.text);
    }
    return result.result.value;
  }
}

// Runs in the DevTools frontend's page, whose modules it imports.
const SUMMARY = `(async () => {
  const UI = await import('./ui/legacy/legacy.js');
  const Profiler = await import('./panels/profiler/profiler.js');
  const HeapSnapshot = await import('./models/heap_snapshot/heap_snapshot.js');
  await UI.ViewManager.ViewManager.instance().showView('heap-profiler');
  const panel = Profiler.HeapProfilerPanel.HeapProfilerPanel.instance();
  const bytes = window.__pieces.map((piece) => Uint8Array.from(piece, (c) => c.charCodeAt(0)));
  delete window.__pieces;
  const failed = await panel.loadFromFile(new File(bytes, 'core.heapsnapshot'));
  if (failed) throw new Error(String(failed));
  const header = Profiler.ProfilesPanel.ProfilesPanel.registry.heapSnapshotProfileType
      .getProfiles().at(-1);
  const proxy = await header.loadPromise;
  const aggregates = await proxy.aggregatesWithFilter(
      new HeapSnapshot.HeapSnapshotModel.NodeFilter());
  const rows = Object.values(aggregates).map((row) => ({
      name: row.name, count: row.count, self: row.self, retained: row.maxRet}));
  return {nodeCount: proxy.nodeCount, totalSize: proxy.totalSize,
          statistics: await proxy.getStatistics(), rows};
})()`;

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'v8scan-chromium-'));
  const {child, port} = await startChromium(profile);
  try {
    const base = `http://127.0.0.1:${port}`;
    const page = (await (await fetch(`${base}/json/list`)).json()).find((t) => t.type === 'page');
    // DevTools' own frontend, as Chromium serves it, inspecting that page.
    const frontend = `${base}/devtools/inspector.html?ws=127.0.0.1:${port}/devtools/page/${page.id}`;
    const tab = await (await fetch(`${base}/json/new?${encodeURIComponent(frontend)}`,
                                   {method: 'PUT'})).json();
    const devtools = new Session(tab.webSocketDebuggerUrl);
    await devtools.open;
    for (let tries = 0; ; tries++) {
      const ready = await devtools.evaluate(
          "document.readyState === 'complete' && !!document.querySelector('.tabbed-pane')")
          .catch(() => false);
      if (ready) break;
      if (tries > 300) throw new Error('the DevTools frontend did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The file goes to the page through the protocol (the frontend may not fetch it).
    await devtools.evaluate('window.__pieces = []');
    const fd = fs.openSync(snapshot, 'r');
    const buffer = Buffer.alloc(PIECE);
    for (let n; (n = fs.readSync(fd, buffer, 0, PIECE)) > 0;) {
      await devtools.evaluate(
          `window.__pieces.push(${JSON.stringify(buffer.toString('latin1', 0, n))})`);
    }
    fs.closeSync(fd);
    process.stdout.write(JSON.stringify(await devtools.evaluate(SUMMARY)));
  } finally {
    // Chromium's profile goes once Chromium and its helpers have gone (they write there
    // while exiting).
    const group = (signal) => {  // whether the group had a process left to signal
      try {
        process.kill(-child.pid, signal);
        return true;
      } catch (error) {
        if (error.code === 'ESRCH') return false;
        throw error;
      }
    };
    group('SIGTERM');
    for (let waited = 0; group(0) && waited < 5000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    group('SIGKILL');
    fs.rmSync(profile, {recursive: true, force: true, maxRetries: 10, retryDelay: 100});
  }
})().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
