import { describe, expect, it } from 'vitest';
import { createTopLevelTracker } from './sql-top-level.js';

/** For each line of `sql`, whether it starts at the top level. */
function topLevelLines(sql: string): boolean[] {
  const tracker = createTopLevelTracker();
  return sql.split('\n').map((line) => {
    const top = tracker.atTopLevel;
    tracker.line(line);
    return top;
  });
}

describe('which lines of a dump start at the top level', () => {
  it('a string literal of several lines, quotes doubled, hides the lines inside it', () => {
    expect(
      topLevelLines(
        [
          "COMMENT ON TABLE public.a IS 'it''s",
          'COPY public.b (id) FROM stdin;',
          '\\.',
          "end';",
          'COPY public.b (id) FROM stdin;',
        ].join('\n'),
      ),
    ).toEqual([true, false, false, false, true]);
  });

  it('an E-string ends only at a quote no backslash escapes', () => {
    expect(
      topLevelLines(["SELECT E'a\\'", "SELECT pg_catalog.setval('s', 1, true);", "b\\\\';", 'x'].join('\n')),
    ).toEqual([true, false, false, true]);
  });

  it('with standard_conforming_strings off every literal escapes with backslashes', () => {
    expect(
      topLevelLines(
        ['SET standard_conforming_strings = off;', "SELECT 'a\\'", 'COPY x FROM stdin;', "';", 'y'].join(
          '\n',
        ),
      ),
    ).toEqual([true, true, false, false, true]);
  });

  it('dollar-quoted bodies by their tag, not by $1 or another tag', () => {
    expect(
      topLevelLines(
        [
          'CREATE FUNCTION f(int) RETURNS int AS $body$',
          'SELECT $1 + $$x$$::int;',
          'COPY x FROM stdin;',
          '$body$;',
          'DO $warden$ BEGIN END $warden$;',
          'z',
        ].join('\n'),
      ),
    ).toEqual([true, false, false, false, true, true]);
  });

  it('quoted identifiers, nested block comments, line comments', () => {
    expect(
      topLevelLines(
        [
          'CREATE TABLE "odd ""name',
          'COPY x FROM stdin;',
          '" (id int); /* one /* two */',
          "still ' inside */ -- a ' comment",
          'COPY x FROM stdin;',
        ].join('\n'),
      ),
    ).toEqual([true, false, false, false, true]);
  });
});
