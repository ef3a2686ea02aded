/**
 * A small, strict reader for the two XML documents the SDK-free S3 path receives: a
 * ListObjectsV2 result and an S3 error.
 *
 *   const page = readListPage(xml);   // { contents, commonPrefixes, isTruncated, nextContinuationToken }
 *   const error = readErrorBody(xml); // { code, message, requestId } or undefined
 *
 * Why not the SDK's parser: loading the SDK and its schema-based deserialiser was most of a
 * no-change upload's time. Strict on purpose: anything that is not well-formed XML (an
 * unclosed or mismatched tag, an unknown entity, a DOCTYPE) is an XmlError, never a guess.
 * Text is kept exactly as sent (a key may start or end with spaces); the five predefined
 * entities and numeric character references are decoded; CDATA is taken literally.
 */

export class XmlError extends Error {
  override name = "XmlError";
}

export interface XmlElement {
  name: string;
  children: XmlElement[];
  /** The element's own character data (text and CDATA), decoded. */
  text: string;
}

const PREDEFINED: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

function decodeEntities(raw: string, at: number): string {
  if (!raw.includes("&")) return raw;
  return raw.replace(/&([^;&]*);?/g, (match, body: string, offset: number) => {
    if (!match.endsWith(";")) throw new XmlError(`unterminated entity at ${at + offset}`);
    const named = PREDEFINED[body];
    if (named !== undefined) return named;
    const numeric = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(body);
    if (numeric) {
      const code = numeric[1] !== undefined ? Number.parseInt(numeric[1], 16) : Number(numeric[2]);
      if (code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff)) {
        return String.fromCodePoint(code);
      }
    }
    throw new XmlError(`unknown entity &${body}; at ${at + offset}`);
  });
}

// Sticky: matched at lastIndex in the whole document, no slices.
const NAME = /[A-Za-z_][\w.:-]*/y;
const ATTRIBUTE_OR_END = /\s+([A-Za-z_][\w.:-]*)\s*=\s*(?:"[^"<]*"|'[^'<]*')|\s*(\/?>)/y;

/** Parse a whole document into its root element. */
export function parseXml(xml: string): XmlElement {
  let i = 0;
  const n = xml.length;
  if (xml.charCodeAt(0) === 0xfeff) i = 1;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;

  const expectEnd = (marker: string, what: string): number => {
    const end = xml.indexOf(marker, i);
    if (end < 0) throw new XmlError(`unterminated ${what} at ${i}`);
    return end;
  };

  while (i < n) {
    const lt = xml.indexOf("<", i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) {
      const raw = xml.slice(i, textEnd);
      const top = stack.at(-1);
      if (top) top.text += decodeEntities(raw, i);
      else if (raw.trim() !== "") throw new XmlError(`text outside the root element at ${i}`);
      i = textEnd;
      continue;
    }
    // xml[i] === "<"
    if (xml.startsWith("<?", i)) {
      const end = expectEnd("?>", "processing instruction");
      if (root || stack.length > 0) throw new XmlError(`processing instruction inside at ${i}`);
      i = end + 2;
    } else if (xml.startsWith("<!--", i)) {
      i = expectEnd("-->", "comment") + 3;
    } else if (xml.startsWith("<![CDATA[", i)) {
      const end = expectEnd("]]>", "CDATA section");
      const top = stack.at(-1);
      if (!top) throw new XmlError(`CDATA outside the root element at ${i}`);
      top.text += xml.slice(i + 9, end);
      i = end + 3;
    } else if (xml.startsWith("<!", i)) {
      // A DOCTYPE could declare entities; S3 never sends one.
      throw new XmlError(`unexpected declaration at ${i}`);
    } else if (xml.startsWith("</", i)) {
      const end = expectEnd(">", "end tag");
      const name = xml.slice(i + 2, end).trimEnd();
      const open = stack.pop();
      if (!open || open.name !== name) {
        throw new XmlError(`end tag </${name}> does not close <${open?.name ?? ""}> at ${i}`);
      }
      if (stack.length === 0) root = open;
      i = end + 1;
    } else {
      if (root) throw new XmlError(`a second root element at ${i}`);
      NAME.lastIndex = i + 1;
      const name = NAME.exec(xml)?.[0];
      if (!name) throw new XmlError(`bad tag at ${i}`);
      let j = i + 1 + name.length;
      // Attributes (xmlns on the root): checked for syntax, then ignored.
      for (;;) {
        ATTRIBUTE_OR_END.lastIndex = j;
        const attr = ATTRIBUTE_OR_END.exec(xml);
        if (!attr) throw new XmlError(`bad tag <${name}> at ${i}`);
        j = ATTRIBUTE_OR_END.lastIndex;
        if (attr[2] === undefined) continue;
        const element: XmlElement = { name, children: [], text: "" };
        stack.at(-1)?.children.push(element);
        if (attr[2] === "/>") {
          if (stack.length === 0) root = element;
        } else {
          stack.push(element);
        }
        break;
      }
      i = j;
    }
  }
  if (stack.length > 0) throw new XmlError(`unclosed <${stack.at(-1)!.name}> at the end`);
  if (!root) throw new XmlError("no root element");
  return root;
}

function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}

function childText(element: XmlElement, name: string): string | undefined {
  return child(element, name)?.text;
}

export interface ListedObject {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

export interface ListPage {
  contents: ListedObject[];
  /** CommonPrefixes/Prefix values, in the order sent (with a delimiter). */
  commonPrefixes: string[];
  isTruncated: boolean;
  nextContinuationToken?: string;
}

function readSize(text: string | undefined, key: string): number {
  if (text === undefined) return 0;
  if (!/^\d+$/.test(text.trim())) throw new XmlError(`Size "${text}" of ${key} is not a number`);
  return Number(text.trim());
}

function readDate(text: string | undefined, key: string): Date | undefined {
  if (text === undefined) return undefined;
  const date = new Date(text.trim());
  if (Number.isNaN(date.getTime()))
    throw new XmlError(`LastModified "${text}" of ${key} is not a date`);
  return date;
}

/** A ListObjectsV2 answer (`<ListBucketResult>`). */
export function readListPage(xml: string): ListPage {
  const root = parseXml(xml);
  if (root.name !== "ListBucketResult") {
    throw new XmlError(`expected <ListBucketResult>, got <${root.name}>`);
  }
  const page: ListPage = { contents: [], commonPrefixes: [], isTruncated: false };
  for (const c of root.children) {
    if (c.name === "Contents") {
      const key = childText(c, "Key");
      if (key === undefined) throw new XmlError("<Contents> without <Key>");
      page.contents.push({
        key,
        size: readSize(childText(c, "Size"), key),
        etag: childText(c, "ETag"),
        lastModified: readDate(childText(c, "LastModified"), key),
      });
    } else if (c.name === "CommonPrefixes") {
      const prefix = childText(c, "Prefix");
      if (prefix !== undefined) page.commonPrefixes.push(prefix);
    } else if (c.name === "IsTruncated") {
      const value = c.text.trim();
      if (value !== "true" && value !== "false") {
        throw new XmlError(`IsTruncated "${c.text}" is not true or false`);
      }
      page.isTruncated = value === "true";
    } else if (c.name === "NextContinuationToken") {
      page.nextContinuationToken = c.text;
    }
  }
  return page;
}

export interface S3ErrorBody {
  code?: string;
  message?: string;
  requestId?: string;
}

/** An S3 error document (`<Error><Code>..</Code><Message>..</Message></Error>`), if it is one. */
export function readErrorBody(xml: string): S3ErrorBody | undefined {
  if (xml.trim() === "") return undefined;
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch {
    return undefined;
  }
  if (root.name !== "Error") return undefined;
  return {
    code: childText(root, "Code"),
    message: childText(root, "Message"),
    requestId: childText(root, "RequestId"),
  };
}
