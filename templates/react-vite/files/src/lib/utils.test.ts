import { describe, expect, it } from 'vitest';
import { eventStreamUrl } from './config';
import { cn } from './utils';

describe('cn', () => {
  it('lets later Tailwind classes win and drops falsy values', () => {
    expect(cn('px-2 py-1', false && 'hidden', 'px-4')).toBe('py-1 px-4');
  });
});

describe('eventStreamUrl', () => {
  it('uses the page origin when no API base is configured', () => {
    const location = { protocol: 'https:', host: 'app.example' } as Location;
    expect(eventStreamUrl('', location)).toBe('wss://app.example/ws/events');
  });

  it('turns an http API base into a ws URL', () => {
    expect(eventStreamUrl('http://api.local:8080', window.location)).toBe('ws://api.local:8080/ws/events');
  });
});
