import { describe, expect, it } from 'vitest';
import { hasControl, safeMultiline, safeText } from '../../../kernel/terminal.js';

describe('safeText', () => {
  it('escapes ANSI sequences, cursor movement and bell so they print as text', () => {
    const attack = 'fix tests\u001b[2A\u001b[2K\rallow everything\u0007';
    const shown = safeText(attack);
    expect(shown).toBe('fix tests\\e[2A\\e[2K\\rallow everything\\x07');
    expect(hasControl(shown)).toBe(false);
  });

  it('escapes C1 controls, DEL, line separators and bidi overrides', () => {
    expect(safeText('a\u009bb\u007fc\u2028d\u202ee\u2066f')).toBe('a\\x9bb\\x7fc\\u2028d\\u202ee\\u2066f');
  });

  it('leaves printable text, including non-Latin scripts and emoji, as it is', () => {
    const text = 'agent → github:repo:read acme/app · 日本語 ✓ 🔑';
    expect(safeText(text)).toBe(text);
    expect(hasControl(text)).toBe(false);
  });

  it('safeMultiline keeps newlines and tabs but nothing else', () => {
    expect(safeMultiline('one\n\ttwo\u001b]0;title\u0007')).toBe('one\n\ttwo\\e]0;title\\x07');
  });

  it('hasControl answers the same on repeated calls (no sticky regex state)', () => {
    expect(hasControl('x\u001by')).toBe(true);
    expect(hasControl('x\u001by')).toBe(true);
    expect(hasControl('plain')).toBe(false);
  });
});
