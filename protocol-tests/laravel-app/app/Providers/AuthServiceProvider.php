<?php
namespace App\Providers;
use Illuminate\Auth\GenericUser;
use Illuminate\Support\Facades\Auth;
class AuthServiceProvider extends \Illuminate\Support\ServiceProvider
{
    public function boot()
    {
        // The test's "logged-in session": a user id in a header.
        Auth::viaRequest('test-header', function ($request) {
            $id = $request->header('X-Test-User');
            return $id ? new GenericUser(['id' => $id, 'name' => "User $id"]) : null;
        });
    }
}
