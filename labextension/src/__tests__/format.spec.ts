import { formatBound } from '../format';

describe('formatBound', () => {
  it('drops the zeros that make a bound long', () => {
    expect(formatBound(0)).toBe('0');
    expect(formatBound(3)).toBe('3');
    expect(formatBound(-2)).toBe('-2');
    expect(formatBound(0.1)).toBe('0.1');
    expect(formatBound(1.234567)).toBe('1.23457');
    expect(formatBound(2.5e-5)).toBe('2.5e-5');
    expect(formatBound(1e6)).toBe('1e+6');
  });

  it('names an open end', () => {
    expect(formatBound(Infinity)).toBe('∞');
    expect(formatBound(-Infinity)).toBe('−∞');
  });
});
