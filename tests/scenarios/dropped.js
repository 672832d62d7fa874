// Allocates a million Dropped objects and lets every one of them go, in batches large
// enough that many survive a scavenge and die in the old generation. Kept objects stay.
// Then writes a V8 heap snapshot (V8's census: 0 Dropped), says "ready" and waits.
'use strict';
const v8 = require('v8');

class Dropped { constructor(i) { this.id = i; this.label = 'dropped'; } }
class Kept { constructor(i) { this.id = i; } }

const kept = [];
let batch = [];
for (let i = 0; i < 1000000; i++) {
  batch.push(new Dropped(i));
  if (batch.length === 50000) batch = [];
  if (i % 50 === 0) kept.push(new Kept(i));
}
batch = null;
globalThis.kept = kept;
setInterval(() => {}, 1000);  // keeps the process alive until it is killed
console.log('starting');
v8.writeHeapSnapshot(process.argv[2]);
console.log('ready');
