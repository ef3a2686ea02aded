/** The strict XML reader of the SDK-free S3 path (src/storage/s3-xml.ts). */
import { describe, expect, it } from "vitest";
import { parseXml, readErrorBody, readListPage, XmlError } from "../../src/storage/s3-xml.js";

const page = (body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${body}</ListBucketResult>`;

describe("readListPage", () => {
  it("reads keys (entities decoded, spaces kept), sizes, ETags, dates and the token", () => {
    const xml = page(
      `<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
      <Contents><Key> a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#x1F600;&#233; </Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>&quot;0123&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
      <Contents><Key><![CDATA[raw <&> key]]></Key><Size>0</Size><Owner><ID>x</ID></Owner></Contents>
      <NextContinuationToken>tok/en+=</NextContinuationToken>`,
    );
    expect(readListPage(xml)).toEqual({
      contents: [
        {
          key: ` a & b <c> "d" 'e' 😀é `,
          size: 12,
          etag: '"0123"',
          lastModified: new Date("2026-01-02T03:04:05.000Z"),
        },
        { key: "raw <&> key", size: 0, etag: undefined, lastModified: undefined },
      ],
      commonPrefixes: [],
      isTruncated: true,
      nextContinuationToken: "tok/en+=",
    });
  });

  it("reads common prefixes and an empty, untruncated page", () => {
    const xml = page(
      "<IsTruncated>false</IsTruncated><CommonPrefixes><Prefix>runs/a/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>runs/b/</Prefix></CommonPrefixes>",
    );
    expect(readListPage(xml)).toEqual({
      contents: [],
      commonPrefixes: ["runs/a/", "runs/b/"],
      isTruncated: false,
    });
    expect(readListPage(page("")).contents).toEqual([]);
  });

  it("refuses what is not a well-formed ListObjectsV2 result", () => {
    const bad = [
      "",
      "<html><body>502 Bad Gateway</body></html>",
      page("<Contents><Key>a</Key>"), // unclosed
      page("<Contents><Key>a</Size></Contents>"), // mismatched
      page("<Contents><Key>a &nbsp; b</Key></Contents>"), // unknown entity
      page("<Contents><Key>a & b</Key></Contents>"), // bare ampersand
      page("<Contents><Key>a</Key><Size>12x</Size></Contents>"),
      page("<Contents><Size>1</Size></Contents>"), // no key
      page("<Contents><Key>a</Key><LastModified>yesterday</LastModified></Contents>"),
      page("<IsTruncated>maybe</IsTruncated>"),
      `<!DOCTYPE x [<!ENTITY e "boom">]>${page("")}`,
      `${page("")}<ListBucketResult></ListBucketResult>`,
      `${page("")} trailing text`,
    ];
    for (const xml of bad) expect(() => readListPage(xml), xml).toThrow(XmlError);
  });
});

describe("readErrorBody", () => {
  it("reads Code, Message and RequestId; anything else is undefined", () => {
    expect(
      readErrorBody(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>x</BucketName><RequestId>R1</RequestId></Error>',
      ),
    ).toEqual({
      code: "NoSuchBucket",
      message: "The specified bucket does not exist",
      requestId: "R1",
    });
    expect(readErrorBody("")).toBeUndefined();
    expect(readErrorBody("<html>oops</html>")).toBeUndefined();
    expect(readErrorBody("not xml at all")).toBeUndefined();
  });
});

describe("parseXml", () => {
  it("skips comments and the declaration, keeps nesting and self-closing elements", () => {
    const root = parseXml(
      '<?xml version="1.0"?><!-- c --><a x="1" y=\'2\'><b/><c>t<!-- c -->u</c></a>',
    );
    expect(root.name).toBe("a");
    expect(root.children.map((c) => c.name)).toEqual(["b", "c"]);
    expect(root.children[1]!.text).toBe("tu");
  });
});
