import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWorld, provision, seatUser, Wallet, PLAIN, type World } from './fixtures.js';

describe('phone smoke', () => {
  let world: World;
  beforeAll(async () => {
    world = await makeWorld();
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('provisions and reports info', async () => {
    const phone = await world.makePhone('alice');
    const id = await provision(world, phone, 'alice', { balance: 50_000 });
    expect(id.puk).toMatch(/^[0-9]{10}$/);
    seatUser(phone);
    const w = await Wallet.open(phone);
    const info = await w.call('GET_INFO', {});
    expect(info.identities).toEqual([{ subdomainId: PLAIN, userId: 'alice', mode: 'plain' }]);
    expect(info.pin.set).toBe(true);
    await w.close();
  });
});
