// The object graph's scenario: objects held in the ways a leak hunter meets them, and
// garbage made after the last GC, still in the heap. Prints one JSON line of what it
// built, then "ready", then blocks in a running function until killed.
'use strict';
const v8 = require('v8');

// Module level: a Map grown through many rehashes (each leaves an abandoned table that
// points to its successor), holding sessions that each capture `this` in a closure.
class Session {
  constructor(id) { this.id = id; this.onClose = () => this.close(); }
  close() { sessions.delete(this.id); }
}
const sessions = new Map();

// Closure level: an array only a closure's context holds.
class Entry { constructor(n) { this.n = n; } }
function makeStore() {
  const items = [];
  return { add(x) { items.push(x); }, size() { return items.length; } };
}
const store = makeStore();

// WeakMaps: the values of live keys are held; keys nothing else holds are garbage, and so
// are their values.
class Ghost { constructor(n) { this.n = n; } }
class GhostValue { constructor(n) { this.n = n; } }
class Key { constructor(n) { this.n = n; } }
class KeptValue { constructor(n) { this.n = n; } }
const weak = new WeakMap();
const keys = [];

// Garbage: objects made and dropped since the last GC.
class Dropped { constructor(n) { this.n = n; } }

for (let i = 0; i < 20000; i++) sessions.set(i, new Session(i));
for (let i = 0; i < 300; i++) store.add(new Entry(i));
// A full GC, then less than a young generation's worth of allocations: the garbage below
// is still in the heap when the core is taken.
globalThis.gc();
for (let i = 0; i < 500; i++) weak.set(new Ghost(i), new GhostValue(i));
for (let i = 0; i < 200; i++) { const key = new Key(i); keys.push(key); weak.set(key, new KeptValue(i)); }
let dropped = [];
for (let i = 0; i < 1000; i++) dropped.push(new Dropped(i));
dropped = null;
const keep = { store, keys, weak };  // held by the module context only

class StackOnly { constructor() { this.where = 'only on the stack'; } }
function running() {
  const held = new StackOnly();  // no other reference: only this frame holds it
  console.log(JSON.stringify({ sessions: sessions.size, entries: store.size(), ghosts: 500,
                               kept: keys.length, dropped: 1000, script: __filename }));
  console.log('ready');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  return held;
}
running();
