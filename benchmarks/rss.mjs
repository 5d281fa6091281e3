// Loaded with `node --import`: reports the process's peak RSS (KiB) on exit, on stderr.
process.on('exit', () => {
  process.stderr.write(`\nrep-bench-maxrss-kib=${process.resourceUsage().maxRSS}\n`);
});
