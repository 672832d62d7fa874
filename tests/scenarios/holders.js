// Leaking objects on known paths, and one Specimen holding a value of every kind, for
// `instances`, `inspect` and `retainers`. Prints one JSON line describing what it built
// (the values v8scan must print, computed here by the program itself), then "ready", and
// waits until killed.
'use strict';
const EventEmitter = require('events');

// Path 1: a module-level cache array, kept alive by a closure (flush) that uses it.
class Session {
  constructor(id) { this.id = id; this.user = 'user-' + id; this.payload = { bytes: id * 10 }; }
}
const cache = [];
for (let i = 0; i < 3000; i++) cache.push(new Session(i));
function flush() { return cache.length; }
setInterval(flush, 1 << 30);

// Path 2: an event emitter's listeners, closures that each hold a Job.
class Job { constructor(n) { this.n = n; this.label = 'job-' + n; } }
const bus = new EventEmitter();
bus.setMaxListeners(0);
function subscribe(job) { bus.on('tick', function onTick() { return job.n; }); }
for (let i = 0; i < 400; i++) subscribe(new Job(i));
globalThis.bus = bus;

// One object with every kind of value.
const long = 'The quick brown fox jumps over the lazy dog, again and again.';
const runtime = String(process.pid % 1 + 1234567);          // made at run time
const consHead = 'a cons string made of two halves: ';
const cons = consHead + runtime;  // a ConsString, as long as nothing flattens it (printing would)
const sliced = long.substring(4, 40);                         // SlicedString of `long`
const twoByte = 'snow \u2603 and \u00e9t\u00e9 ' + runtime;  // two-byte
const external = Buffer.alloc(1 << 21, 'x').toString('latin1');  // Node makes it external
function namedFunction(a, b) { return a + b; }
class Specimen {}
const specimen = new Specimen();
Object.assign(specimen, {
  smi: 42, negative: -7, double: 3.25, big: 2 ** 53, nan: NaN, negativeZero: -0,
  yes: true, no: false, nothing: null, missing: undefined,
  seq: 'plain one-byte text', twoByte, cons, sliced, external,
  list: [1, 2, 3], doubles: [1.5, -2.5], mixed: [7, 'seven', { n: 7 }], holey: [1, , 3],
  nested: { inner: { deep: 'bottom' } },
  fn: namedFunction, called: subscribe,  // never called (UncompiledData), compiled (ScopeInfo)
  map: new Map([['a', 1], ['b', 'bee']]), set: new Set([5, 'five']),
  buf: Buffer.from('hello, core'),
});
globalThis.specimen = specimen;
const LARGE_LENGTH = 100000;

console.log(JSON.stringify({
  sessions: cache.length, jobs: bus.listenerCount('tick'),
  strings: { seq: specimen.seq, twoByte, consParts: [consHead, runtime], sliced,
             externalLength: external.length },
  numbers: { smi: specimen.smi, negative: specimen.negative, double: specimen.double,
             big: specimen.big },
  buf: Buffer.from('hello, core').toString('hex'),
  values: { list: specimen.list, doubles: specimen.doubles, mixed: specimen.mixed,
            nested: specimen.nested, map: [...specimen.map], set: [...specimen.set] },
  script: __filename,
  largeBytes: 16 + 8 * LARGE_LENGTH,  // FixedArray: map, length, then the elements
}));
// Allocated last, so still young: an 800 KB elements store, a large object with a page of
// its own in the young generation.
globalThis.large = new Array(LARGE_LENGTH).fill(7);
console.log('ready');
