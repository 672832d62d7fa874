// A small service whose heap holds what a hostile or unlucky core can put in front of a
// terminal: property names with terminal escapes and bidi controls. Kept small so that a
// kernel core of it is ~50 MB, and fuzzing can run v8scan on hundreds of mutated copies.
class Session {
  constructor(i) {
    this.id = i;
    this.user = 'user ' + i;
    this.onClose = () => this.id;
  }
}
const sessions = new Map();
for (let i = 0; i < 5000; i++) sessions.set(i, new Session(i));

const hostile = [];
for (let i = 0; i < 300; i++) {
  hostile.push({ ['title\u001b]0;pwned\u0007']: i, ['\u202eevil']: i });
}
globalThis.keep = { sessions, hostile };
console.log('ready');
setInterval(() => {}, 1000);
