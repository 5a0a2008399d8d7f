// The demo hands its current model to the tutorial: the model's bytes and the calibration samples
// the visitor chose (photos, images, sentences or random data, already made into input tensors)
// go into this browser's IndexedDB under one key, and tutorial.html?model=demo reads them back.
// Nothing leaves the device; a later hand-off replaces the earlier one.
const DB = 'webptq-demo';
const STORE = 'handoff';
const KEY = 'tutorial';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB is not available'));
  });
}

function run(mode, fn) {
  return open().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => {
      db.close();
      resolve(req.result);
    };
    tx.onerror = () => {
      db.close();
      reject(tx.error);
    };
    tx.onabort = () => {
      db.close();
      reject(tx.error ?? new Error('the hand-off was aborted'));
    };
  }));
}

/** Plain { type, data, dims } copies of calibration feeds (what IndexedDB can store). */
export const plainBatches = (batches) => batches.map((feeds) => Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { type: t.type, data: t.data, dims: [...t.dims] }])));

/** Stores { name, bytes, calibration (plain batches), samples (what they are, in words) }. */
export const saveHandoff = (h) => run('readwrite', (s) => s.put({ ...h, savedAt: Date.now() }, KEY));

/** The last hand-off, or null. */
export const readHandoff = () => run('readonly', (s) => s.get(KEY)).then((v) => v ?? null);
