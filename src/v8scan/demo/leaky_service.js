// A tiny "service" that leaks like a real one: it caches every database row it has ever
// fetched in a module-level Map and never evicts. v8scan's demo takes two cores of it.
'use strict';

class RowDataPacket {
  constructor(id) {
    this.id = id;
    this.userId = id % 1000;
    this.createdAt = Date.now();
    this.payload = 'row-' + id;
  }
}

class Request {
  constructor(id) { this.id = id; this.startedAt = Date.now(); }
}

const rowCache = new Map();   // the leak: grows forever
let nextId = 0;

function handleRequest() {
  const req = new Request(nextId);            // short-lived: becomes garbage
  for (let i = 0; i < 5; i++) {
    const row = new RowDataPacket(nextId++);
    rowCache.set(row.id, row);
  }
  return req;
}

const perTick = Number(process.argv[2] || 4000);
setInterval(() => { for (let i = 0; i < perTick; i++) handleRequest(); }, 100);
console.log('ready', process.pid);
