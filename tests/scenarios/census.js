// Builds known objects, allocates and drops a million more, writes a V8 heap snapshot
// (which forces a full GC), says "ready", then waits on stdin: "grow" adds 20,000 more
// Leaky objects and answers "grown". Run with --expose-gc --no-compact: without compaction
// the pages where the dropped objects died stay in use, their dead bytes left as free space.
'use strict';
const v8 = require('v8');
const readline = require('readline');

class Album { constructor(i) { this.albumId = i; this.title = 'album ' + i; } }
class Track extends Album { constructor(i) { super(i); this.seconds = i % 300; } }
const Anonymous = (() => class { constructor(i) { this.n = i; } })();
class Leaky { constructor(i) { this.id = i; this.data = 'leak ' + i; } }
// No fields: its instances keep the class's initial map, which outlives them, so that their
// dead bodies remain recognisable in the core.
class Dropped {}
class Survivor { constructor(i) { this.id = i; } }

const keep = { albums: [], tracks: [], literals: [], arrays: [], closures: [], strings: [],
               anonymous: [], leaky: [], shapes: [], survivors: [] };
for (let i = 0; i < 5000; i++) keep.albums.push(new Album(i));
for (let i = 0; i < 3000; i++) keep.tracks.push(new Track(i));
for (let i = 0; i < 2000; i++) keep.literals.push({ id: i, genreIds: [i, i + 1] });
for (let i = 0; i < 1500; i++) keep.arrays.push([i, 'x']);
for (let i = 0; i < 1200; i++) keep.closures.push(function namedClosure() { return i; });
for (let i = 0; i < 800; i++) keep.closures.push(() => i);
for (let i = 0; i < 3000; i++) keep.strings.push('string number ' + i);
for (let i = 0; i < 700; i++) keep.anonymous.push(new Anonymous(i));
// Literal shapes of known counts; deleting a property that is not the last one added
// turns an object into dictionary mode. Every value is a heap object (no small integers),
// so that the heap snapshot, which draws no edge to a Smi, shows every property name.
for (let i = 0; i < 1500; i++) {
  keep.shapes.push({ albumId: 'album-' + i, albumNames: ['a'], year: '1990' });
}
for (let i = 0; i < 900; i++) keep.shapes.push({ trackId: 'track-' + i, rating: 'five' });
for (let i = 0; i < 600; i++) {
  const o = { doomed: 'gone', tag: 'dict', keepMe: true };
  delete o.doomed;
  keep.shapes.push(o);
}
// A million objects that V8 frees before the snapshot. Each one sits in a small array
// with, every fourth time, a Survivor, so the scavenger promotes the two side by side; the
// Survivors are kept once their batch is promoted. The dead Dropped objects thus die in
// old-generation pages that stay in use, and their bytes remain there as free space.
let batch = [];
for (let i = 0; i < 1000000; i++) {
  batch.push(i % 4 === 0 ? [new Dropped(), new Survivor(i)] : [new Dropped()]);
  if (batch.length === 250000) {
    for (const pair of batch) if (pair.length === 2) keep.survivors.push(pair[1]);
    batch = [];
  }
}
batch = null;
// A leak's usual holder: a Map of objects, each with a string of its own (retained sizes).
class Visit { constructor(i) { this.id = i; this.path = '/page/' + i; } }
keep.visits = new Map();
for (let i = 0; i < 50000; i++) keep.visits.set(i, new Visit(i));
globalThis.Dropped = Dropped;  // the class lives on, as classes do; its instances do not
globalThis.keep = keep;

// Everything that runs later (stdin, console) is set up before the snapshot, and the
// snapshot waits until Node has finished starting up (it loads more after the main
// module), so that the core taken right after it holds the same objects. The callback
// then says "ready" without a stream and stays on the stack a while: the test stops the
// process meanwhile and takes the core, with nothing run since the snapshot but a write(2).
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line.trim() === 'grow') {
    for (let i = 0; i < 20000; i++) keep.leaky.push(new Leaky(i));
    // A leak survives collections: two full GCs move the survivors to the old generation.
    globalThis.gc();
    globalThis.gc();
    console.log('grown');
  }
});
const fs = require('fs');
const quiet = new Int32Array(new SharedArrayBuffer(4));
console.log('starting');
setTimeout(() => {
  v8.writeHeapSnapshot(process.argv[2]);
  fs.writeSync(1, 'ready\n');
  Atomics.wait(quiet, 0, 0, 2000);
}, 200);
