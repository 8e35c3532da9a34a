// A strict little XML parser for checking that the SVG reports are well-formed: every
// tag closed in order, attributes quoted and unique, no raw '<' or stray '&' in text or
// attribute values. Returns the element tree for assertions on its content.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITY = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function checkText(s: string, where: string): string {
  if (s.includes('<')) throw new Error(`raw "<" in ${where}`);
  if (s.replace(ENTITY, '').includes('&')) throw new Error(`unescaped "&" in ${where}: ${s.slice(0, 60)}`);
  return s.replace(ENTITY, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e] ?? String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : Number(e.slice(1))));
}

function parseAttrs(src: string, tag: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const re = /\s+([A-Za-z_:][\w:.-]*)\s*=\s*("([^"]*)"|'([^']*)')/y;
  let at = 0;
  while (at < src.length) {
    if (/^\s*$/.test(src.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(src);
    if (!m) throw new Error(`bad attribute syntax in <${tag}>: "${src.slice(at, at + 40)}"`);
    if (m[1]! in attrs) throw new Error(`duplicate attribute ${m[1]} in <${tag}>`);
    attrs[m[1]!] = checkText(m[3] ?? m[4] ?? '', `attribute ${m[1]} of <${tag}>`);
    at = re.lastIndex;
  }
  return attrs;
}

export function parseXml(doc: string): XmlElement {
  const s = doc.replace(/^\s*<\?xml[^?]*\?>/, '');
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack = [root];
  const tagRe = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[^<>]*?)?)\s*(\/?)>/y;
  let i = 0;
  while (i < s.length) {
    const lt = s.indexOf('<', i);
    const textEnd = lt < 0 ? s.length : lt;
    if (textEnd > i) stack[stack.length - 1]!.text += checkText(s.slice(i, textEnd), `text inside <${stack[stack.length - 1]!.name}>`);
    if (lt < 0) break;
    if (s.startsWith('<!--', lt)) {
      const end = s.indexOf('-->', lt);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
      continue;
    }
    tagRe.lastIndex = lt;
    const m = tagRe.exec(s);
    if (!m) throw new Error(`malformed tag at offset ${lt}: "${s.slice(lt, lt + 40)}"`);
    const [, close, name, rest, selfClose] = m;
    i = tagRe.lastIndex;
    if (close) {
      const open = stack.pop();
      if (!open || open.name !== name || stack.length === 0) throw new Error(`</${name}> closes <${open?.name}>`);
      continue;
    }
    const el: XmlElement = { name: name!, attrs: parseAttrs(rest ?? '', name!), children: [], text: '' };
    stack[stack.length - 1]!.children.push(el);
    if (!selfClose) stack.push(el);
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (root.children.length !== 1) throw new Error(`a document has one root element, found ${root.children.length}`);
  return root.children[0]!;
}

export function findAll(el: XmlElement, name: string): XmlElement[] {
  return [...(el.name === name ? [el] : []), ...el.children.flatMap((c) => findAll(c, name))];
}
