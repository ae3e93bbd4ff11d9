/*
 * sockwave-recovery: events missed during a short disconnect come back, for pusher-js and
 * Laravel Echo apps on a sockwave server whose app keeps channel history
 * (`history_channels`).
 *
 * How: sockwave gives every event on a history channel a top-level "position"
 * ("{epoch}:{seq}"), which pusher-js drops before apps see the event. This add-on reads the
 * raw frames, remembers the newest position per channel, and adds it as `resume_after` to
 * every `pusher:subscribe` pusher-js sends — also the ones it sends by itself after a
 * reconnect. The server then replays what the channel got meanwhile, in order, before the
 * live events, and says so with `pusher_internal:resumed`; or, when its history no longer
 * reaches back, with `pusher_internal:resume_failed`, which this add-on turns into `onGap`
 * and a `sockwave:resume_failed` event on the channel so the app can refetch its state.
 * pusher-js passes neither notice to the app's own handlers.
 *
 * No fork, no patched globals: two methods of one Pusher instance are wrapped
 * (`send_event`, `unsubscribe`) and one listener is bound on each new transport connection.
 * A UMD file: works with a <script> tag (window.SockwaveRecovery), require() and bundlers.
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.SockwaveRecovery = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  var RESUMED = 'pusher_internal:resumed';
  var FAILED = 'pusher_internal:resume_failed';
  var INSTALLED = '__sockwaveRecovery';

  function parsePosition(text) {
    if (typeof text !== 'string') return null;
    var at = text.indexOf(':');
    if (at <= 0) return null;
    var seq = Number(text.slice(at + 1));
    if (!Number.isSafeInteger(seq) || seq < 0) return null;
    return { epoch: text.slice(0, at), seq: seq, text: text };
  }

  function parseData(data) {
    if (typeof data !== 'string') return data || {};
    try { return JSON.parse(data); } catch (e) { return {}; }
  }

  /** The Pusher instance behind a Pusher, an Echo, or an Echo connector. */
  function pusherOf(target) {
    if (target && target.connector && target.connector.pusher) return target.connector.pusher;
    if (target && target.pusher && typeof target.pusher.send_event === 'function') return target.pusher;
    if (target && typeof target.send_event === 'function' && target.connection) return target;
    throw new TypeError('sockwave-recovery: pass a Pusher instance or a Laravel Echo instance using the pusher or reverb broadcaster');
  }

  /**
   * Starts recovering missed events for every channel of `target` (a Pusher instance or a
   * Laravel Echo instance). Call it right after creating the instance, before subscribing.
   */
  function enableRecovery(target, options) {
    var pusher = pusherOf(target);
    if (pusher[INSTALLED]) return pusher[INSTALLED];
    options = options || {};
    var positions = Object.create(null); // channel -> {epoch, seq, text}
    var storage = options.storage || null;
    var storageKey = (options.storageKey || 'sockwave-recovery') + ':' + pusher.key + ':';
    var hookedTransport = null;

    function load(channel) {
      if (positions[channel] || !storage) return positions[channel];
      try {
        var stored = parsePosition(storage.getItem(storageKey + channel));
        if (stored) positions[channel] = stored;
      } catch (e) { /* storage unavailable */ }
      return positions[channel];
    }

    function record(channel, position, force) {
      var current = positions[channel];
      // Within one history, positions only grow; a new epoch replaces the old one.
      if (!force && current && current.epoch === position.epoch && current.seq >= position.seq) return;
      positions[channel] = position;
      if (storage) {
        try { storage.setItem(storageKey + channel, position.text); } catch (e) { /* full or unavailable */ }
      }
    }

    function forget(channel) {
      delete positions[channel];
      if (storage) {
        try { storage.removeItem(storageKey + channel); } catch (e) { /* unavailable */ }
      }
    }

    function onRawMessage(message) {
      var text = message && message.data;
      if (typeof text !== 'string' || text.indexOf('"position"') === -1) return;
      var frame;
      try { frame = JSON.parse(text); } catch (e) { return; }
      var channel = frame.channel;
      var position = parsePosition(frame.position);
      if (!channel) return;
      if (frame.event === RESUMED) {
        if (position) record(channel, position, true);
        if (options.onResumed) options.onResumed(channel, { replayed: parseData(frame.data).replayed || 0, position: position && position.text });
        return;
      }
      if (frame.event === FAILED) {
        var info = parseData(frame.data);
        if (position) record(channel, position, true);
        var gap = { reason: info.reason, message: info.message, position: position && position.text };
        if (options.onGap) options.onGap(channel, gap);
        var subscribed = pusher.channel(channel);
        if (subscribed) subscribed.emit('sockwave:resume_failed', gap);
        return;
      }
      if (position) record(channel, position, false);
    }

    function hookTransport() {
      var connection = pusher.connection && pusher.connection.connection;
      var transport = connection && connection.transport;
      if (!transport || transport === hookedTransport) return;
      hookedTransport = transport;
      transport.bind('message', onRawMessage);
    }

    var originalSend = pusher.send_event;
    pusher.send_event = function (name, data, channel) {
      if (name === 'pusher:subscribe' && data && typeof data.channel === 'string') {
        var known = load(data.channel);
        var extended = {};
        for (var key in data) if (Object.prototype.hasOwnProperty.call(data, key)) extended[key] = data[key];
        // Empty: "no position yet, tell me one" (history channels answer with a notice).
        extended.resume_after = known ? known.text : '';
        data = extended;
      }
      return originalSend.call(this, name, data, channel);
    };
    var originalUnsubscribe = pusher.unsubscribe;
    pusher.unsubscribe = function (name) {
      forget(name);
      return originalUnsubscribe.apply(this, arguments);
    };
    // A new transport per connection: hook it before the subscribes' answers arrive (the
    // 'connected' handlers run synchronously, before any later frame is read).
    pusher.connection.bind('connected', hookTransport);
    hookTransport();

    var handle = {
      /** The newest position seen on `channel` ("{epoch}:{seq}"), if any. */
      position: function (channel) { var p = load(channel); return p ? p.text : undefined; },
      /** Stops adding positions to subscribes; already-hooked connections stay read. */
      disable: function () {
        pusher.send_event = originalSend;
        pusher.unsubscribe = originalUnsubscribe;
        pusher.connection.unbind('connected', hookTransport);
        if (hookedTransport) hookedTransport.unbind('message', onRawMessage);
        delete pusher[INSTALLED];
      },
    };
    pusher[INSTALLED] = handle;
    return handle;
  }

  return { enableRecovery: enableRecovery };
});
