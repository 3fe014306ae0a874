/**
 * Debian's Chromium for player tests, driven by playwright-core. Players run
 * side by side, each in its own tab, and only one tab is in front: Chromium
 * may pause a muted autoplaying video in a background tab and throttles its
 * timers, so nothing here is put in the background (a player's stall must
 * be the edge's or the origin's, never the test's).
 */
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM } from '../../tools/deps.ts';

export function launchPlayers(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio',
      '--disable-background-media-suspend', '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
    ],
  });
}
