// Runs s3rver in its own node process (started with --openssl-legacy-provider: s3rver's
// ListObjectsV2 continuation token uses DES, which Node 20 only has in the legacy provider).
// Usage: node --openssl-legacy-provider s3rver-launcher.mjs <directory> <bucket>...
// Prints one line `READY <port>` on stdout once it listens on 127.0.0.1:<random port>.
// Every request is recorded (method, path, content-length) so tests can count HEADs and PUTs at the server:
// GET /__requests returns them as JSON; DELETE /__requests clears them.
import http from "node:http";
import S3rver from "s3rver";

const [directory, ...buckets] = process.argv.slice(2);
const s3rver = new S3rver({
  directory,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
await s3rver.configureBuckets();
const handle = s3rver.callback();
let requests = [];
const server = http.createServer((req, res) => {
  if (req.url === "/__requests") {
    if (req.method === "DELETE") requests = [];
    res.writeHead(200, { "content-type": "application/json" });
    res.end(req.method === "DELETE" ? "[]" : JSON.stringify(requests));
    return;
  }
  requests.push({
    method: req.method,
    path: req.url,
    contentLength: Number(req.headers["content-length"] ?? 0),
  });
  handle(req, res);
});
server.keepAliveTimeout = 5000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});
// Die with the parent: a test runner that crashes must not leave a server behind.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
