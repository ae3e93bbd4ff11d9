<?php

namespace App\Events;

use Illuminate\Broadcasting\PrivateChannel;
use Illuminate\Contracts\Broadcasting\ShouldBroadcast;

class OrderShipped implements ShouldBroadcast
{
    public function __construct(public int $id = 1) {}

    public function broadcastOn()
    {
        return new PrivateChannel('orders.'.$this->id);
    }
}
