/**
 * Follows pg_dump's SQL line by line to tell where a line starts: at the top level, where a
 * statement such as `COPY … FROM stdin;` or `SELECT pg_catalog.setval(…);` can begin, or inside a
 * string literal, a quoted identifier, a dollar-quoted body or a block comment, where a line may
 * read the same and is data (a table comment of several lines, a function body). COPY data
 * blocks are not given to it: they are read as rows until their `\.`.
 */
export interface TopLevelTracker {
  /** Whether the next line starts outside any literal, quoted identifier or comment. */
  readonly atTopLevel: boolean;
  /** Follows one line, without its newline. */
  line(text: string): void;
}

type LexState =
  | { kind: 'top' }
  | { kind: 'string'; backslashes: boolean }
  | { kind: 'identifier' }
  | { kind: 'dollar'; tag: string }
  | { kind: 'comment'; depth: number };

const TOP: LexState = { kind: 'top' };
/** A dollar-quote opener (`$$`, `$body$`); `$1` is a parameter. Bytes above 0x7f are letters. */
const DOLLAR_TAG = /\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$/y;
const IDENTIFIER_CHAR = /[A-Za-z0-9_$\x80-\xff]/;

function isIdentifierChar(char: string | undefined): boolean {
  return char !== undefined && IDENTIFIER_CHAR.test(char);
}

export function createTopLevelTracker(): TopLevelTracker {
  let state: LexState = TOP;
  // pg_dump writes `SET standard_conforming_strings = on|off;` near the top.
  let standardStrings = true;

  /** Where the string literal opened at `at` (its quote) starts, and whether backslashes escape in it. */
  const openString = (text: string, at: number): LexState => {
    const prefix = text[at - 1];
    const escaped = (prefix === 'E' || prefix === 'e') && !isIdentifierChar(text[at - 2]);
    return { kind: 'string', backslashes: escaped || !standardStrings };
  };

  /** Reads from `at` in the top-level state; returns where to go on, the state changed or not. */
  const readTop = (text: string, at: number): number => {
    const char = text[at];
    if (char === "'") {
      state = openString(text, at);
      return at + 1;
    }
    if (char === '"') {
      state = { kind: 'identifier' };
      return at + 1;
    }
    if (char === '-' && text[at + 1] === '-') return text.length;
    if (char === '/' && text[at + 1] === '*') {
      state = { kind: 'comment', depth: 1 };
      return at + 2;
    }
    if (char === '$' && !isIdentifierChar(text[at - 1])) {
      DOLLAR_TAG.lastIndex = at;
      const match = DOLLAR_TAG.exec(text);
      if (match) {
        state = { kind: 'dollar', tag: match[0] };
        return at + match[0].length;
      }
    }
    return at + 1;
  };

  const readString = (text: string, at: number, backslashes: boolean): number => {
    for (let from = at; ; ) {
      const quote = text.indexOf("'", from);
      const backslash = backslashes ? text.indexOf('\\', from) : -1;
      if (backslash !== -1 && (quote === -1 || backslash < quote)) {
        from = backslash + 2;
        if (from >= text.length) return text.length;
        continue;
      }
      if (quote === -1) return text.length;
      if (text[quote + 1] === "'") {
        from = quote + 2;
        continue;
      }
      state = TOP;
      return quote + 1;
    }
  };

  const readIdentifier = (text: string, at: number): number => {
    for (let from = at; ; ) {
      const quote = text.indexOf('"', from);
      if (quote === -1) return text.length;
      if (text[quote + 1] === '"') {
        from = quote + 2;
        continue;
      }
      state = TOP;
      return quote + 1;
    }
  };

  const readComment = (text: string, at: number, depth: number): number => {
    const open = text.indexOf('/*', at);
    const close = text.indexOf('*/', at);
    if (close === -1 && open === -1) return text.length;
    if (open !== -1 && (close === -1 || open < close)) {
      state = { kind: 'comment', depth: depth + 1 };
      return open + 2;
    }
    state = depth === 1 ? TOP : { kind: 'comment', depth: depth - 1 };
    return close + 2;
  };

  return {
    get atTopLevel() {
      return state.kind === 'top';
    },
    line(text) {
      if (state.kind === 'top' && text.startsWith('SET standard_conforming_strings = ')) {
        standardStrings = !text.includes('= off');
      }
      let at = 0;
      while (at < text.length) {
        const current: LexState = state;
        switch (current.kind) {
          case 'top':
            at = readTop(text, at);
            break;
          case 'string':
            at = readString(text, at, current.backslashes);
            break;
          case 'identifier':
            at = readIdentifier(text, at);
            break;
          case 'dollar': {
            const end = text.indexOf(current.tag, at);
            if (end === -1) return;
            state = TOP;
            at = end + current.tag.length;
            break;
          }
          case 'comment':
            at = readComment(text, at, current.depth);
            break;
        }
      }
    },
  };
}
