/**
 * The SDK-free SigV4 signer (src/storage/s3-request.ts): AWS's published example, and the
 * same Authorization as the SDK's own signer (@smithy/signature-v4, what @aws-sdk/client-s3
 * signs with) for listings and keys with characters that need encoding.
 */
import { createHash, createHmac } from "node:crypto";
import { HttpRequest } from "@smithy/core/protocols";
import { SignatureV4 } from "@smithy/signature-v4";
import { describe, expect, it } from "vitest";
import { canonicalQuery, S3Requests, signRequest } from "../../src/storage/s3-request.js";

const credentials = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};

function bytesOf(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The hash constructor the smithy signer wants, on node:crypto. */
class Sha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytesOf(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView) {
    this.hash.update(bytesOf(data));
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

async function sdkAuthorization(options: {
  host: string;
  path: string;
  query: Record<string, string>;
  date: Date;
  region: string;
  sessionToken?: string;
}): Promise<string> {
  const signer = new SignatureV4({
    credentials: { ...credentials, sessionToken: options.sessionToken },
    region: options.region,
    service: "s3",
    sha256: Sha256,
    uriEscapePath: false, // S3 signs the path as sent (the SDK's S3 setting)
    applyChecksum: true,
  });
  const request = new HttpRequest({
    method: "GET",
    protocol: "https:",
    hostname: options.host,
    path: options.path,
    query: options.query,
    headers: {
      host: options.host,
      "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
  });
  const signed = await signer.sign(request, { signingDate: options.date });
  return String(signed.headers.authorization);
}

describe("SigV4 signing", () => {
  it("reproduces the AWS S3 documentation's GET object example", () => {
    const headers = signRequest({
      method: "GET",
      host: "examplebucket.s3.amazonaws.com",
      path: "/test.txt",
      query: "",
      headers: { range: "bytes=0-9" },
      region: "us-east-1",
      credentials,
      date: new Date("2013-05-24T00:00:00Z"),
    });
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    expect(headers["x-amz-date"]).toBe("20130524T000000Z");
  });

  const cases: { name: string; key?: string; query: Record<string, string> }[] = [
    { name: "a listing", key: undefined, query: { "list-type": "2", prefix: "p/inputs/" } },
    {
      name: "a listing with a token, a delimiter and odd characters in the prefix",
      key: undefined,
      query: {
        "list-type": "2",
        prefix: "a b/&<>'\"!*()~/Ünï 日本 😀+%=/",
        delimiter: "/",
        "continuation-token": "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
        "max-keys": "3",
      },
    },
    {
      name: "a key with reserved and non-ASCII characters",
      key: "odd/q\"uo'te $(x) 100% + #hash?/Ünï 😀.txt",
      query: {},
    },
  ];
  for (const c of cases) {
    it(`signs ${c.name} exactly as the SDK's signer`, async () => {
      const date = new Date("2026-03-04T05:06:07Z");
      for (const sessionToken of [undefined, "session/token+=="]) {
        const s3 = new S3Requests({
          bucket: "bucket",
          endpoint: "https://acct.r2.cloudflarestorage.com",
          region: "auto",
          forcePathStyle: true,
          credentials: { ...credentials, sessionToken },
        });
        const { host, path } = s3.target(c.key);
        const ours = signRequest({
          method: "GET",
          host,
          path,
          query: canonicalQuery(c.query),
          region: "auto",
          credentials: { ...credentials, sessionToken },
          date,
        });
        const theirs = await sdkAuthorization({
          host,
          path,
          query: c.query,
          date,
          region: "auto",
          sessionToken,
        });
        expect(ours.authorization).toBe(theirs);
      }
    });
  }
});

describe("request URLs", () => {
  const make = (endpoint: string | undefined, bucket: string, forcePathStyle: boolean) =>
    new S3Requests({ bucket, endpoint, region: "eu-west-1", forcePathStyle, credentials });

  it("path style: the bucket after the endpoint (and its own path); keys encoded per segment", () => {
    expect(make("http://127.0.0.1:9000", "b", false).target("a b/c+d.txt")).toEqual({
      host: "127.0.0.1:9000",
      path: "/b/a%20b/c%2Bd.txt",
    });
    expect(make("https://x.example/base/", "my-bucket", true).target()).toEqual({
      host: "x.example",
      path: "/base/my-bucket",
    });
  });

  it("virtual hosted: the bucket is the first host label unless it cannot be one", () => {
    expect(make("https://x.example", "my-bucket", false).target("k")).toEqual({
      host: "my-bucket.x.example",
      path: "/k",
    });
    expect(make(undefined, "my-bucket", false).target()).toEqual({
      host: "my-bucket.s3.eu-west-1.amazonaws.com",
      path: "/",
    });
    // An IP address endpoint is path style, IPv6 included.
    expect(make("http://[::1]:9000", "my-bucket", false).target()).toEqual({
      host: "[::1]:9000",
      path: "/my-bucket",
    });
    // Dots break TLS host names; upper case is not a host label: path style.
    expect(make("https://x.example", "my.bucket", false).target().path).toBe("/my.bucket");
    expect(make("https://x.example", "My_Bucket", false).target().path).toBe("/My_Bucket");
  });
});
