/**
 * A tiny fake S3 endpoint on 127.0.0.1 for what s3rver cannot produce: it does not verify
 * secrets (so no SignatureDoesNotMatch) and cannot store keys with `..` segments. It speaks
 * S3's documented wire format: error responses as <Error><Code>..</Code></Error> XML, and
 * ListObjectsV2 as <ListBucketResult> XML. Nothing else.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeS3Options {
  /** Answer every request with this S3 error (e.g. 403 SignatureDoesNotMatch). */
  error?: { status: number; code: string; message: string };
  /** Answer the first N requests with 503 SlowDown (a transient error) before behaving. */
  failFirst?: number;
  /** Otherwise, answer ListObjectsV2 with these keys. */
  keys?: { key: string; size: number }[];
}

export interface FakeS3 {
  endpoint: string;
  requests: { method: string; path: string }[];
  stop(): Promise<void>;
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export async function startFakeS3(options: FakeS3Options): Promise<FakeS3> {
  const requests: { method: string; path: string }[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", path: req.url ?? "" });
    req.resume();
    const transient =
      requests.length <= (options.failFirst ?? 0)
        ? { status: 503, code: "SlowDown", message: "Please reduce your request rate." }
        : undefined;
    const error = transient ?? options.error;
    if (error) {
      const { status, code, message } = error;
      res.writeHead(status, { "content-type": "application/xml", "x-amz-request-id": "FAKE" });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message><RequestId>FAKE</RequestId></Error>`,
      );
      return;
    }
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "GET" && url.searchParams.get("list-type") === "2") {
      const prefix = url.searchParams.get("prefix") ?? "";
      const contents = (options.keys ?? [])
        .filter((k) => k.key.startsWith(prefix))
        .map(
          (k) =>
            `<Contents><Key>${xmlEscape(k.key)}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"0123456789abcdef0123456789abcdef"</ETag><Size>${k.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
        )
        .join("");
      res.writeHead(200, { "content-type": "application/xml" });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${options.keys?.length ?? 0}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`,
      );
      return;
    }
    res.writeHead(501, { "content-type": "application/xml" });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code><Message>fake</Message></Error>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port with nothing listening: bind, read the port, close. */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
