<?php
namespace Pusher;
// Stand-in for pusher/pusher-php-server (not packaged by Debian): the signing methods
// Laravel's PusherBroadcaster calls, from Pusher's documented auth signature.
class Pusher
{
    public function __construct(private string $key, private string $secret, private string $appId, private array $options = []) {}
    public function socket_auth($channel, $socketId, $customData = null)
    {
        $toSign = $customData === null ? "$socketId:$channel" : "$socketId:$channel:$customData";
        $auth = ['auth' => $this->key.':'.hash_hmac('sha256', $toSign, $this->secret)];
        if ($customData !== null) $auth['channel_data'] = $customData;
        return json_encode($auth);
    }
    public function presence_auth($channel, $socketId, $userId, $userInfo = null)
    {
        $data = ['user_id' => $userId];
        if ($userInfo) $data['user_info'] = $userInfo;
        return $this->socket_auth($channel, $socketId, json_encode($data));
    }
    public function trigger($channels, $event, $data, $params = []) { return true; }
}
