'use strict';
/**
 * BENCH_PROFILE=1 preloads this into every process of the stack (NODE_OPTIONS=--require …; node
 * refuses --cpu-prof there). In a service, the gateway or a baseline it installs a SIGUSR2
 * switch: the first SIGUSR2 starts the V8 sampling profiler, the next stops it and writes
 * <BENCH_PROFILE_DIR>/<name>.cpuprofile (also written at exit while running). So a profile covers
 * exactly the load the runner chose, not start-up. Other processes (make dev's launcher) are left
 * alone.
 */
const path = require('node:path');
const fs = require('node:fs');

const entry = process.argv.slice(1).find((a) => /(services\/[a-z-]+\/src\/main\.ts|gateway\/src\/server\.ts|bench\/baselines\/[a-z]+\.ts)$/.test(a));
const dir = process.env.BENCH_PROFILE_DIR;
if (entry && dir) {
  const m = /services\/([a-z-]+)\//.exec(entry);
  const name = m ? m[1] : entry.includes('gateway/') ? 'gateway' : `baseline-${path.basename(entry, '.ts')}`;
  const inspector = require('node:inspector');
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  let running = false;
  // The main thread's inspector session answers synchronously, so this works inside 'exit' too.
  const stop = () => {
    running = false;
    session.post('Profiler.stop', (err, res) => {
      if (!err) fs.writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(res.profile));
    });
  };
  process.on('SIGUSR2', () => {
    if (running) return stop();
    running = true;
    session.post('Profiler.start');
  });
  process.on('exit', () => {
    if (running) stop();
  });
}
