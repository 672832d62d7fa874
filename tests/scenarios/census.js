// Builds known objects, writes a V8 heap snapshot (which forces a full GC), says "ready",
// then waits on stdin: "grow" adds 20,000 more Leaky objects and answers "grown".
// Run with --expose-gc.
'use strict';
const v8 = require('v8');
const readline = require('readline');

class Album { constructor(i) { this.albumId = i; this.title = 'album ' + i; } }
class Track extends Album { constructor(i) { super(i); this.seconds = i % 300; } }
const Anonymous = (() => class { constructor(i) { this.n = i; } })();
class Leaky { constructor(i) { this.id = i; this.data = [i]; } }

const keep = { albums: [], tracks: [], literals: [], arrays: [], closures: [], strings: [],
               anonymous: [], leaky: [] };
for (let i = 0; i < 5000; i++) keep.albums.push(new Album(i));
for (let i = 0; i < 3000; i++) keep.tracks.push(new Track(i));
for (let i = 0; i < 2000; i++) keep.literals.push({ id: i, genreIds: [i, i + 1] });
for (let i = 0; i < 1500; i++) keep.arrays.push([i, 'x']);
for (let i = 0; i < 1200; i++) keep.closures.push(function namedClosure() { return i; });
for (let i = 0; i < 800; i++) keep.closures.push(() => i);
for (let i = 0; i < 3000; i++) keep.strings.push('string number ' + i);
for (let i = 0; i < 700; i++) keep.anonymous.push(new Anonymous(i));
globalThis.keep = keep;

// Everything that runs later (stdin, console) is set up before the snapshot, so that the
// core taken right after it holds the same objects.
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
console.log('starting');
v8.writeHeapSnapshot(process.argv[2]);
console.log('ready');
