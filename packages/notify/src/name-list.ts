/** "a, b, c and 7 more": the first `shown` names of a list that may be long. */
export function nameList(names: readonly string[], shown: number): string {
  if (names.length <= shown) return names.join(', ');
  return `${names.slice(0, shown).join(', ')} and ${names.length - shown} more`;
}
